"""The base of the video families (MoCoGAN, DVD-GAN): :class:`VideoGAN` with its class-label
handling, seeded noise and eval-mode sampling. Their clip dataset is in
:mod:`vidgan.train.recipes.video_clips`; sampled videos are written as a grid with
:func:`vidgan.nn.images.write_video_grid`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from vidgan.models.base import GANModel

Category = int | Tensor | None


class VideoGAN(GANModel):
    """Base of the video families. Subclasses set ``size``, ``channels``, ``video_length`` (the
    training clip length) and ``num_classes`` (0: unconditional) and implement :meth:`sample`."""

    size: int
    channels: int
    video_length: int
    num_classes: int

    def sample(
        self, n: int, length: int | None = None, category: Category = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` videos ``(n, T, C, H, W)`` in [-1, 1] of ``length`` frames (default: the training
        length; any length works); ``category`` an int or ``(n,)`` class ids (default random)."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def labels(self, n: int, category: Category, generator: torch.Generator | None = None) -> Tensor | None:
        """Class ids ``(n,)`` int64: ``category`` (an int or ``(n,)``), random when None; None for
        an unconditional model (then ``category`` must be None)."""
        if self.num_classes == 0:
            if category is not None:
                raise ValueError("this model has no classes; pass category=None")
            return None
        if category is None:
            return torch.randint(self.num_classes, (n,), generator=generator, device=generator_device(generator))\
                .to(self.device)
        labels = torch.as_tensor(category, dtype=torch.int64, device=self.device).expand(n).clone()
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"category must be in 0..{self.num_classes - 1}, got {category}")
        return labels


def levels(size: int) -> int:
    """Resolution doublings from 4x4 up to ``size`` x ``size`` (a power of two >= 8)."""
    count = size.bit_length() - 3
    if size < 8 or size != 4 << count:
        raise ValueError(f"size must be a power of two >= 8, got {size}")
    return count


def generator_device(generator: torch.Generator | None) -> torch.device:
    """Where ``generator`` draws (CPU when None): random draws are made there, then moved."""
    return generator.device if generator is not None else torch.device("cpu")


def randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Standard normal noise drawn with ``generator`` (global RNG when None), on ``device``."""
    return torch.randn(shape, generator=generator, device=generator_device(generator)).to(device)


@contextlib.contextmanager
def sampling(module: nn.Module) -> Iterator[None]:
    """Eval mode (batch-norm running statistics) and no gradients; the mode is restored after."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in modes.items():
            m.training = mode


def load_video_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> VideoGAN:
    """A video model from its folder, or from a run folder (its ``model/``)."""
    return VideoGAN.from_pretrained(path, device=device)
