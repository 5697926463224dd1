"""Wall time per round of the learners on the CPU and on CUDA, side by side in one run (docs/learners.md,
"On a GPU"). Needs a GPU; the simulated time per round is printed too, and must be the same on both.

    python examples/gpu_learners.py [--rounds 3] [--clients 8]
"""

from __future__ import annotations

import argparse

import torch

from ns6g.learners.engine import FlJob
from ns6g.learners.no_network import NoNetwork

CASES = [  # (model, protocol, batch size)
    ("small_cnn", "fedavg", 32),
    ("small_cnn", "splitfed-v1", 32),
    ("resnet18_style", "fedavg", 64),
    ("resnet18_style", "splitfed-v1", 64),
]


def one(model: str, protocol: str, batch: int, device: str, rounds: int, clients: int) -> tuple[float, float, float]:
    """(wall seconds per round, simulated seconds of the job, final accuracy), after a one-round warm-up job
    (CUDA's start, cuDNN's algorithm choice, the FLOP counts)."""

    def job(n: int):
        network = NoNetwork(clients)
        try:
            return FlJob({"model": model, "protocol": protocol, "clients": clients, "rounds": n,
                          "batch_size": batch, "seed": 0, "torch_device": device}, network=network).run()
        finally:
            network.close()

    job(1)
    result = job(rounds)
    return result.wall_time_s / rounds, result.sim_time_s, result.final_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_learners: PyTorch sees no GPU here")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}; digits, {args.clients} clients, "
          f"{args.rounds} rounds timed after a first one")
    print(f"{'model':<16} {'protocol':<12} {'cpu s/round':>12} {'cuda s/round':>13} {'speed-up':>9} "
          f"{'sim s (cpu = cuda)':>20} {'accuracy cpu/cuda':>18}")
    for model, protocol, batch in CASES:
        cpu = one(model, protocol, batch, "cpu", args.rounds, args.clients)
        gpu = one(model, protocol, batch, "cuda", args.rounds, args.clients)
        same = "yes" if abs(cpu[1] - gpu[1]) <= 1e-9 * max(1.0, cpu[1]) else f"NO ({cpu[1]:.6g} / {gpu[1]:.6g})"
        print(f"{model:<16} {protocol:<12} {cpu[0]:12.3f} {gpu[0]:13.3f} {cpu[0] / gpu[0]:8.1f}x "
              f"{cpu[1]:12.4f} {same:>7} {cpu[2]:8.3f}/{gpu[2]:.3f}")


if __name__ == "__main__":
    main()
