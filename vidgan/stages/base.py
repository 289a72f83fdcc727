"""The stage protocol: a callable class mapping a batch (dict of columns) to a batch.

``__init__`` loads what the stage needs once; ``__call__(batch)`` transforms a batch whose
columns are numpy arrays of equal length (object arrays for strings and Python objects).
The class declares its :class:`Resources`; the same class runs in a plain loop, in tests, and as
a Ray Data task (stateless) or actor pool (stateful, e.g. a loaded model).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class Resources:
    """What one instance of a stage needs. ``stateful`` stages run as actors (loaded once per
    worker), the others as tasks. ``concurrency``: workers at most (actors or parallel tasks).
    ``inline``: a light stateless stage that runs inside the workers of the stage after it (on Ray
    the two are fused), not in processes of its own; its other resources are then unused."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    batch_size: int = 1
    concurrency: int = 1
    stateful: bool = False
    inline: bool = False

    def __post_init__(self) -> None:
        if self.inline and self.stateful:
            raise ValueError("an inline stage must be stateless: it runs inside another stage's workers")


class Stage:
    """Base class of stages: subclasses set ``resources`` and implement ``__call__``."""

    resources: ClassVar[Resources] = Resources()

    def __call__(self, batch: Batch) -> Batch:
        raise NotImplementedError


@dataclass(frozen=True)
class StageSpec:
    """A stage class and its constructor arguments: what a runner builds, locally or remotely."""

    cls: type[Stage]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    resources: Resources | None = None

    @property
    def effective_resources(self) -> Resources:
        """The spec's resources, else the class's."""
        return self.resources or self.cls.resources

    def build(self) -> Stage:
        return self.cls(**self.kwargs)


@contextlib.contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """Cap torch's and OpenCV's thread pools at ``threads`` inside the block, then restore them:
    a worker that shares a machine with others must not spawn a thread per core."""
    import cv2
    import torch

    previous = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        cv2.setNumThreads(previous[1])


def rows_to_batch(rows: Sequence[Mapping[str, Any]]) -> Batch:
    """``[{"a": 1}, {"a": 2}]`` -> ``{"a": array([1, 2])}``; non-scalar values become objects."""
    if not rows:
        return {}
    batch = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        if all(isinstance(v, (bool, int, float, np.number)) for v in values):
            batch[key] = np.asarray(values)
        else:
            column = np.empty(len(values), dtype=object)
            column[:] = values
            batch[key] = column
    return batch


def batch_to_rows(batch: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """The inverse of :func:`rows_to_batch`, with numpy scalars turned into Python values."""
    if not batch:
        return []
    length = len(next(iter(batch.values())))
    return [{key: python_value(column[i]) for key, column in batch.items()} for i in range(length)]


def python_value(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value
