"""Steps/s of 4 BridgeEcho environments as Ray actors holding 1, 2 or 4 environments each
(RayVecEnv's envs_per_worker; docs/performance.md): what batching the calls per actor saves.

    NS6G_CACHE_DIR=... python examples/ray_envs_per_worker.py
"""
import time
from functools import partial
import numpy as np, ray
from ns6g.apps.training import _training_env
from ns6g.envs.ray_vec_env import RayVecEnv
ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
fns = [partial(_training_env, "ns6g/BridgeEcho-v0", {}, i) for i in range(4)]
for rep in range(2):
    for k in (1, 2, 4):
        venv = RayVecEnv(fns, envs_per_worker=k)
        try:
            venv.reset(); a = np.zeros((4, 8), np.float32)
            for _ in range(50): venv.step(a)
            t = time.perf_counter(); n = 0
            while time.perf_counter() - t < 3:
                venv.step(a); n += 4
            print(f"run {rep+1}: 4 envs, {k} per actor ({len(venv.actors)} actors): {n / (time.perf_counter() - t):.0f} steps/s", flush=True)
        finally:
            venv.close()
ray.shutdown()
