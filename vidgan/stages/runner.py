"""Runners: execute a list of stages over rows, in-process or on Ray Data.

``LocalRunner`` loops over batches in this process. ``RayRunner`` builds a Ray Data pipeline:
stateless stages become tasks, stateful ones actor pools. It starts an embedded local Ray (the
machine's CPUs, no dashboard) unless given ``address`` (``auto``, ``ray://host:port`` or
``host:port``) or ``RAY_ADDRESS`` names a cluster. An ``inline`` stage is fused into the workers of
the stage after it. CPU requests are sized to the cluster: all the
stages' workers together ask for at most 80% of its CPUs, so actor pools can never hold every CPU
while the tasks that feed them wait (on 2 CPUs, two 1-CPU actors starve their input and hang).
A CPU request is a scheduling share, not a limit: a worker still uses the cores it can get.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from vidgan.stages.base import Resources, StageSpec, batch_to_rows, python_value, rows_to_batch

RunnerName = Literal["local", "ray"]

#: Share of the cluster's CPUs that all stage workers together may claim; the rest stays free
#: for Ray Data's own tasks (splitting, moving blocks).
_STAGE_CPU_SHARE = 0.8

#: How long a pipeline waits for its actor pools to start before giving up (model loading included).
_ACTOR_START_TIMEOUT_S = 600


class LocalRunner:
    """Run stages in this process, batch by batch, each stage built once."""

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def run(self, rows: Sequence[Mapping[str, Any]], stages: Sequence[StageSpec]) -> Iterator[dict[str, Any]]:
        """Yield output rows as a stream: each stage takes batches of its own ``batch_size``."""
        stream: Iterator[Mapping[str, Any]] = iter(rows)
        for spec in stages:
            stream = _apply(spec.build(), spec.effective_resources.batch_size, stream)
        yield from stream


class RayRunner:
    """Run stages as a Ray Data pipeline on the embedded local Ray or on a cluster.

    Use as a context manager: Ray is shut down on exit only if this runner started it.
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        self.address = address if address is not None else os.environ.get("RAY_ADDRESS")
        self.num_cpus = num_cpus
        self._started = False

    def __enter__(self) -> RayRunner:
        import ray

        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus or len(os.sched_getaffinity(0)), include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
            self._started = True
        return self

    def __exit__(self, *exc) -> None:
        import ray

        if self._started:
            ray.shutdown()
            self._started = False

    def cluster_cpus(self) -> float:
        import ray

        return float(ray.cluster_resources().get("CPU", 1.0))

    def run(self, rows: Sequence[Mapping[str, Any]], stages: Sequence[StageSpec]) -> Iterator[dict[str, Any]]:
        """Yield output rows as they finish (in no particular order)."""
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.execution_options.preserve_order = False
        # Start work only when every actor of a pool is up, so the first one ready does not take
        # all the inputs (each is a whole video); a cluster too small for the pools fails here.
        context.wait_for_min_actors_s = _ACTOR_START_TIMEOUT_S
        dataset = ray.data.from_items([dict(row) for row in rows], override_num_blocks=max(1, len(rows)))
        fitted = fit_to_cluster([spec.effective_resources for spec in stages], self.cluster_cpus())
        for index, (spec, resources) in enumerate(zip(stages, fitted)):
            # an inline stage takes the remote options of the next stage with workers: Ray fuses them
            hosts = [r for r in fitted[index + 1:] if not r.inline] if resources.inline else []
            host = hosts[0] if hosts else resources
            options: dict[str, Any] = {
                "batch_size": resources.batch_size,
                "batch_format": "numpy",
                "num_cpus": host.num_cpus,
                "num_gpus": host.num_gpus,
                "zero_copy_batch": False,
            }
            # Fault tolerance is Ray Data's default: a dead actor is restarted and its batch retried
            # (max_restarts = max_task_retries = -1), a task whose worker dies is retried
            # (max_retries = -1), and a pool's actors are SPREAD over the nodes. Passing those
            # options explicitly would only stop an inline stage from fusing with its host.
            if resources.stateful:  # an actor pool
                # one batch in flight per actor: a batch is a whole video, and queueing several on
                # the first actor that is ready would leave the others idle
                pool = ray.data.ActorPoolStrategy(size=resources.concurrency, max_tasks_in_flight_per_actor=1)
                dataset = dataset.map_batches(spec.cls, fn_constructor_kwargs=dict(spec.kwargs), compute=pool,
                                              **options)
            else:  # tasks (inline: the host's size, so that Ray fuses them into its workers)
                pool = ray.data.TaskPoolStrategy(size=host.concurrency)
                dataset = dataset.map_batches(_StatelessCall(spec), compute=pool, **options)
        for row in dataset.iter_rows():
            yield {key: python_value(value) for key, value in row.items()}


def fit_to_cluster(stages: Sequence[Resources], cluster_cpus: float) -> list[Resources]:
    """Lower each stage's ``num_cpus`` so that every stage's workers together
    (``num_cpus * concurrency`` summed) ask for at most 80% of the cluster's CPUs, each stage
    getting an equal part; requests already below their part are kept. Inline stages have no
    workers of their own and take no part."""
    own = [r for r in stages if not r.inline]
    if not own:
        return list(stages)
    part = cluster_cpus * _STAGE_CPU_SHARE / len(own)
    return [
        replace(r, num_cpus=round(min(r.num_cpus, part / r.concurrency), 3)) if r.num_cpus and not r.inline else r
        for r in stages
    ]


def make_runner(name: RunnerName, address: str | None = None) -> LocalRunner | RayRunner:
    """``local`` -> LocalRunner; ``ray`` -> RayRunner (embedded, or ``address``)."""
    if name == "local":
        return LocalRunner()
    if name == "ray":
        return RayRunner(address)
    raise ValueError(f"unknown runner {name!r}; use local or ray")


class _StatelessCall:
    """A stateless stage as a plain function for Ray tasks (built per task, cheaply)."""

    def __init__(self, spec: StageSpec) -> None:
        self.spec = spec

    def __call__(self, batch):
        return self.spec.build()(batch)


def _apply(stage, size: int, rows: Iterator[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    chunk: list[Mapping[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield from batch_to_rows(stage(rows_to_batch(chunk)))
            chunk = []
    if chunk:
        yield from batch_to_rows(stage(rows_to_batch(chunk)))
