"""Gymnasium environments of ns6g, registered on import as ``ns6g/<Name>-v0``.

>>> import gymnasium as gym, ns6g.envs
>>> env = gym.make("ns6g/BridgeEcho-v0", obs_size=128)
"""

from gymnasium.envs.registration import register, registry

ENV_IDS = {
    "ns6g/BridgeEcho-v0": "ns6g.envs.bridge_echo:BridgeEchoEnv",
    "ns6g/LinkControl-v0": "ns6g.envs.link_control:LinkControlEnv",
    "ns6g/SpectrumAllocation-v0": "ns6g.envs.spectrum_allocation:SpectrumAllocationEnv",
    "ns6g/SplitInference-v0": "ns6g.envs.split_inference:SplitInferenceEnv",
    "ns6g/MecOffload-v0": "ns6g.envs.mec_offload:MecOffloadEnv",
    "ns6g/D2DRelay-v0": "ns6g.envs.d2d_relay:D2DRelayEnv",
    "ns6g/MultiAccessInference-v0": "ns6g.envs.multi_access:MultiAccessEnv",
    "ns6g/FslOrchestration-v0": "ns6g.envs.fsl_orchestration:FslOrchestrationEnv",
}

for _env_id, _entry_point in ENV_IDS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point, disable_env_checker=False)
