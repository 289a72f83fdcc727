"""The same training run on Ray Train: ``TorchTrainer`` with ``num_workers`` data-parallel workers.

Ray Train starts the workers and their process group (gloo on CPU, NCCL with ``use_gpu``) and
gives each its device; every worker then runs :func:`~vidgan.train.experiment.run_experiment`
unchanged. Rank 0 writes the run folder, so on a multi-node cluster ``run_dir`` must be on a
filesystem every node sees (NFS, a mounted bucket).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from vidgan.config import from_dict, to_dict
from vidgan.errors import VidganError
from vidgan.train.experiment import ExperimentConfig, run_experiment


def _worker_loop(settings: dict[str, Any]) -> None:
    import ray.train.torch

    config = from_dict(ExperimentConfig, settings["config"], source="ray worker")
    device = ray.train.torch.get_device()
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, device=str(device)))
    result = run_experiment(config, settings["run_dir"], resume=settings["resume"])
    ray.train.report({"iterations": result.iterations, "rollbacks": result.rollbacks})


def train_on_ray(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    workers: int,
    use_gpu: bool = False,
    address: str | None = None,
    resume: bool = True,
) -> None:
    """Train ``config`` into ``run_dir`` on ``workers`` Ray Train workers (the embedded local
    Ray when ``address`` is None and none is running, else the cluster at ``address``)."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    run_dir = Path(run_dir).resolve()
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=True)
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"config": to_dict(config), "run_dir": str(run_dir), "resume": resume},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(name="ray", storage_path=str(run_dir)),
    )
    try:
        trainer.fit()
    except Exception as error:  # Ray wraps worker errors; show the worker's own message
        raise VidganError(f"{run_dir}: distributed training failed: {error}") from error
