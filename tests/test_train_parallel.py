"""Gradient averaging over data-parallel ranks (two gloo processes on this machine)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from vidgan.train.parallel import Parallel


def _rank(rank: int, store_path: str, results: dict) -> None:
    dist.init_process_group("gloo", rank=rank, world_size=2,
                            store=dist.FileStore(store_path, 2))
    try:
        torch.manual_seed(0)
        shared, resting, one_rank = (nn.Parameter(torch.ones(3)) for _ in range(3))
        shared.grad = torch.full((3,), float(rank + 1))  # 1 and 2: mean 1.5
        if rank == 0:
            one_rank.grad = torch.full((3,), 4.0)  # 4 and nothing: mean 2
        optimiser = torch.optim.Adam([shared, resting, one_rank], lr=0.1)
        resting.grad = torch.ones(3)  # an earlier phase moved it: Adam holds momentum for it
        optimiser.step()
        resting.grad = None
        before = resting.detach().clone()
        Parallel(rank, 2).average_gradients([shared, resting, one_rank])
        optimiser.step()
        results[rank] = {"shared": shared.grad.tolist(), "resting": resting.grad,
                         "one_rank": one_rank.grad.tolist(), "resting_moved": not torch.equal(before, resting.detach())}
    finally:
        dist.destroy_process_group()


def test_a_parameter_resting_on_every_rank_keeps_no_gradient(tmp_path):
    """A network resting this phase (no gradient anywhere) must not be handed zeros: Adam would
    keep moving it with its momentum, unlike a one-process run."""
    results = mp.Manager().dict()
    mp.start_processes(_rank, args=(str(tmp_path / "store"), results), nprocs=2, start_method="spawn")
    for rank in (0, 1):
        assert results[rank]["shared"] == [1.5] * 3
        assert results[rank]["one_rank"] == [2.0] * 3
        assert results[rank]["resting"] is None
        assert results[rank]["resting_moved"] is False
