"""Stages (callable classes with declared resources) and the runners that execute them."""

from vidgan.stages.base import Batch, Resources, Stage, StageSpec, batch_to_rows, rows_to_batch
from vidgan.stages.runner import LocalRunner, RayRunner, fit_to_cluster, make_runner

__all__ = [
    "Batch",
    "LocalRunner",
    "RayRunner",
    "Resources",
    "Stage",
    "StageSpec",
    "batch_to_rows",
    "fit_to_cluster",
    "make_runner",
    "rows_to_batch",
]
