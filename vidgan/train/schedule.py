"""Learning-rate factor as a pure function of the iteration (no scheduler state to resume)."""

from __future__ import annotations

import math

from vidgan.train.config import TrainConfig


def lr_factor(config: TrainConfig, iteration: int) -> float:
    """Multiplier of the base learning rates at generator iteration ``iteration`` (0-based)."""
    factor = 1.0
    if config.warmup_iterations and iteration < config.warmup_iterations:
        factor = (iteration + 1) / config.warmup_iterations
    if config.lr_schedule == "constant" or iteration < config.decay_start:
        return factor
    span = max(config.iterations - config.decay_start, 1)
    progress = min((iteration - config.decay_start) / span, 1.0)
    if config.lr_schedule == "linear":
        return factor * (1.0 - progress)
    return factor * 0.5 * (1.0 + math.cos(math.pi * progress))
