"""Data parallelism without DDP wrappers, as StyleGAN2-ADA does it.

Parameters are broadcast from rank 0 once; after each backward the gradients of the network
being updated are averaged over ranks (one flattened all-reduce). Unlike wrapping G and D in
DistributedDataParallel, this is correct when D is frozen during the G update, when a network
runs several forward passes per step, and with gradient accumulation (one reduction per step).
Works on any ``torch.distributed`` backend (gloo on CPU, NCCL on GPU); a no-op in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Parallel:
    """This process's place among the data-parallel workers."""

    rank: int = 0
    world: int = 1
    #: Where collective buffers live: CUDA for NCCL, CPU for gloo.
    device: str = "cpu"

    @classmethod
    def current(cls, device: str = "cpu") -> Parallel:
        """Read from the initialised ``torch.distributed`` process group (Ray Train sets it up)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(), device)
        return cls(device=device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, module: nn.Module) -> None:
        """Give every rank rank 0's parameters and buffers."""
        if self.world == 1:
            return
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)

    def average_gradients(self, parameters: list[nn.Parameter]) -> None:
        """Replace each gradient by its mean over ranks. A parameter without a gradient on every
        rank keeps none (a network resting this phase stays untouched by the optimiser, as in one
        process); one with a gradient on some ranks only counts zero on the others."""
        if self.world == 1:
            return
        present = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32, device=self.device)
        dist.all_reduce(present)
        reduced = [p for p, count in zip(parameters, present.tolist(), strict=True) if count > 0]
        if not reduced:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in reduced]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for parameter in reduced:
            count = parameter.numel()
            parameter.grad = flat[offset : offset + count].view_as(parameter).clone()
            offset += count

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean over ranks of a tensor of loss values (for logging)."""
        if self.world == 1:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (a picklable object), in rank order."""
        if self.world == 1:
            return [value]
        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def all_true(self, flag: bool) -> bool:
        """``flag`` on every rank (so every rank takes the same branch)."""
        if self.world == 1:
            return flag
        value = torch.tensor([0.0 if flag else 1.0], device=self.device)
        dist.all_reduce(value)
        return value.item() == 0.0
