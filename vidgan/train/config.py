"""Settings of the one GAN trainer (``train:`` section of every model config)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass
class TrainConfig:
    """How to train; every field is a YAML key under ``train:`` and a ``train.key=value`` override.

    Budgets: training stops at ``iterations`` generator updates or after ``minutes`` of wall
    time, whichever comes first (``minutes: null``: no time budget). ``batch_size`` is the
    *global* batch of one optimiser step: split over ``grad_accumulation`` micro-batches and
    over the data-parallel workers, so a run's numbers do not depend on how many workers run it.
    """

    iterations: int = 1000
    minutes: float | None = None
    batch_size: int = 8
    grad_accumulation: int = 1
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    #: Discriminator updates per generator update (each on its own batch).
    d_steps: int = 1
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    #: Linear warm-up from 0 over this many iterations.
    warmup_iterations: int = 0
    #: ``linear``/``cosine`` decay to 0 runs from this iteration to ``iterations``.
    decay_start: int = 0
    #: R1 gradient penalty on real inputs (Mescheder et al. 2018); 0 disables. Applied lazily
    #: every ``r1_interval`` D updates with its weight scaled by the interval (StyleGAN2).
    r1_weight: float = 0.0
    r1_interval: int = 16
    #: Clip the global gradient norm of each network to this value; null disables.
    grad_clip: float | None = None
    #: Exponential moving average of the generator's weights; 0 disables. Sampling and export
    #: use the EMA generator when it exists.
    ema_decay: float = 0.999
    ema_start: int = 0
    #: Spectral normalisation applied by the trainer on top of what the model builds itself.
    spectral_norm: Literal["none", "discriminator", "generator", "both"] = "none"
    #: Precision on CUDA (CPU always trains in fp32): ``bf16`` autocast needs no loss scaling,
    #: ``fp16`` autocast uses a GradScaler, ``fp32`` turns mixed precision off.
    amp: Literal["fp32", "bf16", "fp16"] = "bf16"
    seed: int = 0
    #: ``auto``: CUDA when available (the local rank's GPU under Ray Train), else CPU.
    device: str = "auto"
    #: DataLoader worker processes (0: load in the training process; needed for bit-exact resume
    #: with random augmentation).
    loader_workers: int = 0
    log_every: int = 10
    sample_every: int = 200
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    #: NaN/inf guard: on a non-finite loss, roll back to the last checkpoint and multiply the
    #: learning rates by ``nan_lr_factor``; give up after ``max_rollbacks`` rollbacks.
    nan_lr_factor: float = 0.5
    max_rollbacks: int = 5

    def __post_init__(self) -> None:
        positive = ("iterations", "batch_size", "grad_accumulation", "d_steps", "r1_interval", "log_every",
                    "sample_every", "checkpoint_every", "keep_checkpoints")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size % self.grad_accumulation:
            raise ValueError(
                f"train.batch_size ({self.batch_size}) must be a multiple of train.grad_accumulation "
                f"({self.grad_accumulation})"
            )
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 < self.nan_lr_factor <= 1:
            raise ValueError(f"train.nan_lr_factor must be in (0, 1], got {self.nan_lr_factor}")
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"train.minutes must be > 0 or null, got {self.minutes}")
        for name in ("lr_g", "lr_d"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"train.{name} must be a number > 0, got {getattr(self, name)}")
        if len(self.betas) != 2 or not all(math.isfinite(b) and 0 <= b < 1 for b in self.betas):
            raise ValueError(f"train.betas must be two numbers in [0, 1), got {list(self.betas)}")
        if not (math.isfinite(self.r1_weight) and self.r1_weight >= 0):
            raise ValueError(f"train.r1_weight must be a number >= 0, got {self.r1_weight}")
        if self.grad_clip is not None and not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(f"train.grad_clip must be > 0 or null, got {self.grad_clip}")
        for name in ("warmup_iterations", "decay_start", "ema_start", "loader_workers", "max_rollbacks"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
