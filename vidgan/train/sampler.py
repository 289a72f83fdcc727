"""Which samples every micro-batch of every step holds: a pure function of (seed, position).

The global batch of optimiser step ``s`` is a contiguous run of a seeded per-epoch permutation;
it is cut into ``grad_accumulation`` micro-batches and each micro-batch into one slice per
data-parallel rank. Concatenating the ranks' slices gives exactly the single-process batch, and
a resumed run starts at any position without replaying the data.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class MicroBatchSampler(Sampler[list[int]]):
    """Yields this rank's index lists for micro-batches ``start, start + 1, ...`` forever.

    Micro-batch ``m`` covers global positions ``[m * micro, (m + 1) * micro)`` of the endless
    stream formed by concatenating permutations of ``range(length)`` seeded with
    ``seed + epoch``; this rank takes the ``rank``-th of ``world`` equal slices.
    """

    def __init__(self, length: int, micro_batch: int, *, seed: int, rank: int = 0, world: int = 1, start: int = 0):
        if length < 1:
            raise ValueError("the dataset is empty")
        if micro_batch % world:
            raise ValueError(f"micro-batch size {micro_batch} is not a multiple of the {world} workers")
        self.length = length
        self.micro_batch = micro_batch
        self.seed = seed
        self.rank = rank
        self.world = world
        self.start = start
        self._epoch = -1
        self._permutation: list[int] = []

    def __iter__(self) -> Iterator[list[int]]:
        per_rank = self.micro_batch // self.world
        position = self.start * self.micro_batch + self.rank * per_rank
        while True:
            yield [self._index(position + i) for i in range(per_rank)]
            position += self.micro_batch

    def _index(self, position: int) -> int:
        epoch, offset = divmod(position, self.length)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            self._permutation = torch.randperm(self.length, generator=generator).tolist()
            self._epoch = epoch
        return self._permutation[offset]
