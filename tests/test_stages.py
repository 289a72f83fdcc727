"""The stage protocol and the runners' plumbing."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from vidgan.stages import (
    LocalRunner,
    RayRunner,
    Resources,
    Stage,
    StageSpec,
    batch_to_rows,
    fit_to_cluster,
    rows_to_batch,
)


class AddOne(Stage):
    resources = Resources(batch_size=3)

    def __init__(self, column: str = "x") -> None:
        self.column = column
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        return {**batch, self.column: batch[self.column] + 1, "batch_len": np.full(len(batch[self.column]), len(batch[self.column]))}


class RecordProcess(Stage):
    """Writes the process it ran in into ``column``."""

    def __init__(self, column: str) -> None:
        self.column = column

    def __call__(self, batch):
        return {**batch, self.column: np.full(len(batch["x"]), os.getpid())}


def test_rows_and_batches_round_trip():
    rows = [{"x": 1, "name": "a", "points": np.zeros((2, 3))}, {"x": 2, "name": "b", "points": np.ones((4, 3))}]
    batch = rows_to_batch(rows)
    assert batch["x"].dtype.kind == "i" and batch["name"].dtype == object
    back = batch_to_rows(batch)
    assert back[1]["name"] == "b" and isinstance(back[0]["x"], int)
    assert np.array_equal(back[1]["points"], np.ones((4, 3)))


def test_local_runner_batches_by_each_stage_size():
    rows = [{"x": i} for i in range(7)]
    first = list(LocalRunner().run(rows, [StageSpec(AddOne)]))
    assert [r["batch_len"] for r in first] == [3, 3, 3, 3, 3, 3, 1]
    out = list(LocalRunner().run(rows, [StageSpec(AddOne), StageSpec(AddOne, resources=Resources(batch_size=2))]))
    assert [r["x"] for r in out] == [i + 2 for i in range(7)]
    assert [r["batch_len"] for r in out] == [2, 2, 2, 2, 2, 2, 1]  # the second stage sees batches of 2


@pytest.mark.parametrize("cpus", [1, 2, 16])
def test_cpu_requests_never_take_the_whole_cluster(cpus):
    stages = [Resources(num_cpus=0.5, concurrency=2), Resources(num_cpus=1, concurrency=2, stateful=True),
              Resources(num_cpus=1, concurrency=2), Resources(num_cpus=0, num_gpus=1)]
    fitted = fit_to_cluster(stages, cpus)
    assert sum(r.num_cpus * r.concurrency for r in fitted) <= 0.8 * cpus + 1e-9
    assert all(0 <= r.num_cpus <= s.num_cpus for r, s in zip(fitted, stages))
    assert fitted[3].num_gpus == 1 and fitted[1].stateful
    if cpus == 16:
        assert fitted[1].num_cpus == 1  # enough room: the request stands


def test_inline_stages_take_no_share_and_must_be_stateless():
    stages = [Resources(inline=True), Resources(num_cpus=1, stateful=True), Resources(num_cpus=1, stateful=True)]
    fitted = fit_to_cluster(stages, 2)
    assert [r.num_cpus for r in fitted] == [1.0, 0.8, 0.8]  # the two stages with workers share 80% of 2
    with pytest.raises(ValueError, match="stateless"):
        Resources(inline=True, stateful=True)


def test_an_inline_stage_runs_in_the_workers_of_the_stage_after_it_on_ray():
    """Ray fuses inline stages (two in a row here) into the next stage's actors; the stage after
    them has its own."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    stages = [StageSpec(RecordProcess, {"column": "inline"}, Resources(inline=True)),
              StageSpec(RecordProcess, {"column": "inline_too"}, Resources(inline=True)),
              StageSpec(RecordProcess, {"column": "host"}, Resources(num_cpus=0.5, stateful=True)),
              StageSpec(RecordProcess, {"column": "last"}, Resources(num_cpus=0.5, stateful=True))]
    with RayRunner(num_cpus=2) as runner:
        rows = list(runner.run([{"x": i} for i in range(4)], stages))
    assert sorted(row["x"] for row in rows) == [0, 1, 2, 3]
    assert all(row["inline"] == row["inline_too"] == row["host"] != row["last"] for row in rows)
    assert os.getpid() not in {row["host"] for row in rows}
