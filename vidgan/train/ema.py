"""Exponential moving average of a generator's weights (Karras et al.; imaginaire's ``net_G_ema``)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of ``module`` whose parameters track ``decay * ema + (1 - decay) * live``.

    Buffers (batch-norm statistics) are copied as they are. Before ``start`` updates the copy
    just follows the live weights; from ``start`` the decay ramps up as
    ``min(decay, (1 + n) / (10 + n))`` after ``n`` averaged steps (TensorFlow's
    ``ExponentialMovingAverage(num_updates=n)``), so a short run's average is not dominated by
    the initial weights (0.99 ** 140 still gives them a quarter of the weight).
    """

    def __init__(self, module: nn.Module, decay: float, start: int = 0) -> None:
        self.decay = decay
        self.start = start
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, live: nn.Module, iteration: int) -> None:
        """Blend ``live`` (the module being trained) into the average after generator step ``iteration``."""
        steps = iteration - self.start
        decay = min(self.decay, (1 + steps) / (10 + steps)) if steps >= 0 else 0.0
        for average, current in zip(self.module.parameters(), live.parameters(), strict=True):
            average.lerp_(current.detach(), 1.0 - decay)
        for average, current in zip(self.module.buffers(), live.buffers(), strict=True):
            average.copy_(current)
