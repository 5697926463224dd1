"""The CUDA paths, where PyTorch sees a GPU (skipped elsewhere: CI has none).

On a GPU machine: ``pytest tests/test_gpu.py``; ``python examples/gpu_learners.py`` prints the figures of
docs/learners.md ("On a GPU"). The learners count FLOPs from the model and turn them into simulated seconds
with the device profile, so the GPU must change wall time only: the simulated times, bytes and energy are
the same as on the CPU, and the training the same up to floating-point order.
"""

from __future__ import annotations

import pytest
import torch

from ns6g.learners.engine import FlJob
from ns6g.learners.no_network import NoNetwork

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="PyTorch sees no GPU here")

BASE = {"clients": 4, "rounds": 2, "batch_size": 16, "seed": 3}


def _run(device: str, **settings):
    network = NoNetwork(BASE["clients"])
    try:
        job = FlJob({**BASE, **settings, "torch_device": device}, network=network)
        return job, job.run()
    finally:
        network.close()


@pytest.mark.parametrize("protocol", ["fedavg", "splitfed-v1", "psl"])
def test_cuda_changes_wall_time_not_simulated_time(protocol):
    cpu_job, cpu = _run("cpu", protocol=protocol)
    gpu_job, gpu = _run("cuda", protocol=protocol)
    assert cpu_job.device.type == "cpu" and gpu_job.device.type == "cuda"
    assert [r.end_s for r in gpu.rounds] == pytest.approx([r.end_s for r in cpu.rounds], rel=1e-9)
    assert gpu.uplink_bytes == cpu.uplink_bytes
    assert gpu.client_energy_j == pytest.approx(cpu.client_energy_j, rel=1e-9)
    assert gpu.final_accuracy == pytest.approx(cpu.final_accuracy, abs=0.05)


def test_auto_picks_the_gpu():
    job, result = _run("auto", protocol="fedavg", rounds=1)
    assert job.device.type == "cuda" and len(result.rounds) == 1


def test_train_config_accepts_cuda_where_there_is_a_gpu():
    from ns6g.apps.training import TrainConfig

    assert TrainConfig("ns6g/LinkControl-v0", device="cuda").device == "cuda"
