"""PPO's learner on the CPU and on CUDA with ns6g's preset network sizes, side by side in one run (steps/s of
learn() on CartPole-v1, 4 environments, n_steps 256, batch 256, 10 epochs: the update dominates). Needs a GPU;
docs/training.md ("On a GPU") has the figures.

    python examples/gpu_ppo.py
"""
import time
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

torch.set_num_threads(1)  # as ns6g train does: the scenario processes want the other cores
for arch in ([64, 64], [128, 128], [512, 512]):
    row = []
    for device in ("cpu", "cuda"):
        env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
        model = PPO("MlpPolicy", env, n_steps=256, batch_size=256, n_epochs=10, seed=0, device=device,
                    policy_kwargs={"net_arch": arch}, verbose=0)
        model.learn(1024)  # warm-up
        t = time.perf_counter()
        model.learn(16384, reset_num_timesteps=False)
        row.append(16384 / (time.perf_counter() - t))
    print(f"PPO net_arch {arch}: cpu {row[0]:.0f} steps/s, cuda {row[1]:.0f} steps/s, cuda/cpu {row[1] / row[0]:.2f}")
