"""The same trainer on Ray Train (TorchTrainer, 2 CPU workers over gloo) gives the single-process
loss curve with the same global batch and seed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import safetensors.torch
import torch

from tests.test_train_core import toy_config
from vidgan.train.experiment import run_experiment
from vidgan.train.logger import read_metrics

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_ray_train_workers_follow_the_single_process_curve(tmp_path, monkeypatch):
    import ray

    from vidgan.train.distributed import train_on_ray

    config = toy_config(iterations=6, batch_size=8, checkpoint_every=3, r1_weight=1.0, r1_interval=2)
    run_experiment(config, tmp_path / "single")
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        train_on_ray(config, tmp_path / "ray", workers=2)
    finally:
        ray.shutdown()
    state = torch.load(tmp_path / "ray" / "checkpoints" / "iteration_0000006" / "trainer.pt", weights_only=True)
    assert state["world"] == 2 and len(state["rng"]) == 2
    single, distributed = read_metrics(tmp_path / "single"), read_metrics(tmp_path / "ray")
    assert [m["iteration"] for m in distributed] == list(range(1, 7))
    for a, b in zip(single, distributed, strict=True):
        for key in ("loss_d", "loss_d/real", "loss_d/fake", "loss_d/r1", "loss_g"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (a["iteration"], key)
    final = [safetensors.torch.load_file(str(tmp_path / run / "model" / "model.safetensors")) for run in ("single", "ray")]
    assert all(torch.allclose(final[0][k], final[1][k], atol=1e-5) for k in final[0])
