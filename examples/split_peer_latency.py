"""Latency of a ResNet-18-style inference on a Raspberry-Pi-class device: all local, all on the edge, all
on the D2D peer, the peer's best cut and the greedy (edge or peer) policy, in a 5 MHz UMa cell at 3.5 GHz
of 200 m or 2 km inter-site distance and for several device-peer distances. 5 tasks per policy, seed 1.

    python examples/split_peer_latency.py [peer_device]      (default smartphone)

Numbers in docs/split-inference.md ("D2D peer").
"""

import sys

import numpy as np

from ns6g.apps.bench import _mean_latency_ms
from ns6g.envs.split_inference import EDGE, PEER, SplitInferenceEnv
from ns6g.envs.policies import ConstantPolicy

TASKS = 5
CASES = [(200.0, 20.0), (2000.0, 20.0), (2000.0, 100.0), (2000.0, 300.0)]  # (isd_m, peer_distance_m)


def mean_ms(env, action) -> float:
    return _mean_latency_ms(env, ConstantPolicy(np.array(action)), 1, TASKS)[0]


def main(peer_device: str = "smartphone") -> None:
    print("isd_m peer_m uplink_mbps sidelink_mbps local_ms edge_ms peer_ms peer_best_cut peer_best_ms "
          "greedy_ms greedy_first_action")
    for isd, distance in CASES:
        with SplitInferenceEnv(ues=1, task_rate_hz=0.5, scenario="UMa", frequency_hz=3.5e9, bandwidth_hz=5e6,
                               numerology=0, isd_m=isd, fast_fading=False, peer_distance_m=distance,
                               peer_device=peer_device, episode_steps=10_000) as env:
            n = env.n_cuts - 1
            obs, _ = env.reset(seed=1)
            greedy = env.baseline_policies()["greedy"]
            first = greedy(obs).tolist()
            peer = {k: mean_ms(env, [k, PEER]) for k in range(n)}
            best = min(peer, key=peer.get)
            greedy_ms = _mean_latency_ms(env, greedy, 1, TASKS)[0]
            print(f"{isd:5.0f} {distance:6.0f} {obs['uplink_mbps'][0]:11.1f} {obs['sidelink_mbps'][0]:13.1f} "
                  f"{mean_ms(env, [n, EDGE]):8.1f} {mean_ms(env, [0, EDGE]):7.1f} {peer[0]:7.1f} {best:13d} "
                  f"{peer[best]:12.1f} {greedy_ms:9.1f} {first}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:2])
