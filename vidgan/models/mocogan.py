"""MoCoGAN (Tulyakov et al., CVPR 2018): video = content (fixed per video) + motion (a GRU path).

Every frame is drawn by one image generator from ``[z_content, one_hot(category), z_motion(t)]``:
the content code is fixed per video, the motion codes are the states of a GRU cell driven by
fresh noise at each frame, and an optional action category conditions every frame. A patch
image discriminator judges single frames; a 3D-conv video discriminator judges clips and, with
categories, names their action (trained on real labels; the generator is asked to make its
category recognisable, the InfoGAN-style loss). Defaults are the paper's and its code's: 64x64,
16 frames, dim_z_content 50, dim_z_motion 10, DCGAN widths 64, instance noise 0.1 in the
discriminators, non-saturating (BCE) loss, Adam 2e-4 (0.5, 0.999).

Control (inference): :meth:`MoCoGAN.sample` with given ``content`` and/or ``motion`` codes,
:meth:`~MoCoGAN.fixed_content` (one content, varied motion), :meth:`~MoCoGAN.fixed_motion` (one
motion, varied content), ``category=``; any number of frames (the GRU runs on). The trainer and
``FAMILY`` live in :mod:`vidgan.train.recipes.mocogan`.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.models.video_gan import Category, VideoGAN, levels, randn, sampling
from vidgan.nn import ConvNormAct, conv

#: ``noise(*shape) -> (B, *shape)`` standard normal noise (the trainer's
#: :meth:`~vidgan.train.trainer.GANTrainer.noise`).
Noise = Callable[..., Tensor]


class MoCoGANGenerator(nn.Module):
    """The GRU motion path and the DCGAN image generator (transposed 4x4 convs, batch norm, ReLU,
    tanh), which renders each frame from ``[content, one_hot(category), motion(t)]``."""

    def __init__(self, size: int, channels: int, dim_z_content: int, dim_z_motion: int, num_classes: int, ngf: int):
        super().__init__()
        count = levels(size)
        self.dim_z_content, self.dim_z_motion, self.num_classes = dim_z_content, dim_z_motion, num_classes
        self.recurrent = nn.GRUCell(dim_z_motion, dim_z_motion)
        widths = [ngf * 2 ** (count - 1 - i) for i in range(count)]  # 512, 256, 128, 64 at 64x64
        dim_z = dim_z_content + num_classes + dim_z_motion
        self.image = nn.Sequential(
            ConvNormAct(dim_z, widths[0], 4, 1, 0, transpose=True),
            *(ConvNormAct(a, b, 4, 2, transpose=True) for a, b in pairwise(widths)),
            conv(widths[-1], channels, 4, 2, transpose=True, bias=False),
            nn.Tanh(),
        )

    def motion(self, initial: Tensor, innovations: Tensor) -> Tensor:
        """Motion codes ``(B, T, dim_z_motion)``: GRU states from ``initial`` ``(B, dim_z_motion)``
        driven by ``innovations`` ``(B, T, dim_z_motion)`` (the paper's epsilon_t)."""
        states, state = [], initial
        for step in innovations.unbind(1):
            state = self.recurrent(step, state)
            states.append(state)
        return torch.stack(states, dim=1)

    def forward(self, content: Tensor, category: Tensor | None, motion: Tensor) -> Tensor:
        """``content`` ``(B, dim_z_content)``, ``category`` ``(B,)`` class ids (None without
        classes), ``motion`` ``(B, T, dim_z_motion)`` -> frames ``(B, T, C, H, W)`` in [-1, 1]."""
        b, t = motion.shape[:2]
        parts = [content[:, None].expand(-1, t, -1)]
        if self.num_classes:
            parts.append(F.one_hot(category, self.num_classes).to(content.dtype)[:, None].expand(-1, t, -1))
        parts.append(motion)
        z = torch.cat(parts, dim=2).reshape(b * t, -1, 1, 1)
        frames = self.image(z)
        return frames.reshape(b, t, *frames.shape[1:])


class _InstanceNoise(nn.Module):
    """Discriminator units with instance noise ``x + sigma * N(0, 1)`` before each (MoCoGAN's code)."""

    sigma: float

    def _noisy(self, x: Tensor, noise: Noise | None) -> Tensor:
        if noise is None or self.sigma == 0:
            return x
        return x + self.sigma * noise(*x.shape[1:]).to(x.dtype)


class PatchImageDiscriminator(_InstanceNoise):
    """MoCoGAN's image discriminator: 4x4 stride-2 convs (batch norm after the first), LeakyReLU
    0.2, and a last stride-2 conv to a 4x4 map of logits at 64x64."""

    def __init__(self, size: int, channels: int, ndf: int, sigma: float):
        super().__init__()
        self.sigma = sigma
        depth = levels(size) - 1  # 3 units + the head at 64x64
        widths = [ndf * 2**i for i in range(depth)]
        self.units = nn.ModuleList(
            ConvNormAct(a, b, 4, 2, norm="none" if i == 0 else "batch", activation="lrelu")
            for i, (a, b) in enumerate(zip([channels, *widths], widths))
        )
        self.head = conv(widths[-1], 1, 4, 2, bias=False)

    def forward(self, images: Tensor, noise: Noise | None = None) -> Tensor:
        """``images`` ``(B, C, H, W)`` -> patch logits ``(B, h * w)``; ``noise`` draws the
        instance noise (none when None)."""
        x = images
        for unit in self.units:
            x = unit(self._noisy(x, noise))
        return self.head(self._noisy(x, noise)).flatten(1)


class CategoricalVideoDiscriminator(_InstanceNoise):
    """MoCoGAN's video discriminator: 4x4x4 3D convs striding in space only (1, 2, 2), batch norm
    after the first, LeakyReLU 0.2, and a last conv over the remaining (T', 4, 4) to one logit
    plus ``num_classes`` category logits."""

    def __init__(self, size: int, channels: int, video_length: int, ndf: int, num_classes: int, sigma: float):
        super().__init__()
        self.sigma, self.num_classes = sigma, num_classes
        depth = levels(size)  # 4 units at 64x64
        remaining = video_length - 3 * depth  # each unit trims 3 frames (kernel 4, no padding)
        if remaining < 1:
            raise ValueError(f"video_length must be >= {3 * depth + 1} at size {size}, got {video_length}")
        widths = [ndf * 2**i for i in range(depth)]
        self.units = nn.ModuleList(
            ConvNormAct(a, b, 4, (1, 2, 2), (0, 1, 1), dims=3, norm="none" if i == 0 else "batch", activation="lrelu")
            for i, (a, b) in enumerate(zip([channels, *widths], widths))
        )
        self.head = conv(widths[-1], 1 + num_classes, (remaining, 4, 4), 1, 0, dims=3, bias=False)

    def forward(self, video: Tensor, noise: Noise | None = None) -> tuple[Tensor, Tensor]:
        """``video`` ``(B, T, C, H, W)`` -> (logits ``(B,)``, category logits ``(B, num_classes)``,
        empty without classes)."""
        x = video.transpose(1, 2)
        for unit in self.units:
            x = unit(self._noisy(x, noise))
        out = self.head(x).flatten(1)
        return out[:, 0], out[:, 1:]


class MoCoGAN(VideoGAN):
    """MoCoGAN's generator and its image and video discriminators (see the module docstring).

    ``num_classes`` is the paper's dim_z_category (0: no categories); ``noise_sigma`` the
    discriminators' instance noise (0: none)."""

    def __init__(
        self,
        size: int = 64,
        channels: int = 3,
        video_length: int = 16,
        dim_z_content: int = 50,
        dim_z_motion: int = 10,
        num_classes: int = 0,
        ngf: int = 64,
        ndf: int = 64,
        noise_sigma: float = 0.1,
    ) -> None:
        super().__init__()
        self.size, self.channels, self.video_length, self.num_classes = size, channels, video_length, num_classes
        self.generator = MoCoGANGenerator(size, channels, dim_z_content, dim_z_motion, num_classes, ngf)
        self.discriminators = nn.ModuleDict({
            "image": PatchImageDiscriminator(size, channels, ndf, noise_sigma),
            "video": CategoricalVideoDiscriminator(size, channels, video_length, ndf, num_classes, noise_sigma),
        })

    def sample_content(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Content codes ``(n, dim_z_content)``."""
        return randn((n, self.generator.dim_z_content), generator, self.device)

    def sample_motion(self, n: int, length: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Motion codes ``(n, length, dim_z_motion)`` (GRU states; default: the training length)."""
        length = length or self.video_length
        dim = self.generator.dim_z_motion
        initial = randn((n, dim), generator, self.device)
        innovations = randn((n, length, dim), generator, self.device)
        with sampling(self.generator):
            return self.generator.motion(initial, innovations)

    def sample(
        self,
        n: int,
        length: int | None = None,
        category: Category = None,
        content: Tensor | None = None,
        motion: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``n`` videos ``(n, T, C, H, W)`` in [-1, 1]. ``content`` ``(n or 1, dim_z_content)`` and
        ``motion`` ``(n or 1, T, dim_z_motion)`` are drawn when None (``length`` frames, default
        the training length; a given ``motion`` sets T); ``category`` an int or ``(n,)`` ids."""
        content = self.sample_content(n, generator) if content is None else content.to(self.device).expand(n, -1)
        if motion is None:
            motion = self.sample_motion(n, length, generator)
        motion = motion.to(self.device).expand(n, -1, -1)
        labels = self.labels(n, category, generator)
        with sampling(self.generator):
            return self.generator(content, labels, motion)

    def fixed_content(
        self, n: int, length: int | None = None, category: Category = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` videos ``(n, T, C, H, W)`` of one content (object) with different motions."""
        return self.sample(n, length, category, content=self.sample_content(1, generator), generator=generator)

    def fixed_motion(
        self, n: int, length: int | None = None, category: Category = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` videos ``(n, T, C, H, W)`` of one motion with different contents."""
        return self.sample(n, length, category, motion=self.sample_motion(1, length, generator), generator=generator)


__all__ = [
    "CategoricalVideoDiscriminator",
    "MoCoGAN",
    "MoCoGANGenerator",
    "PatchImageDiscriminator",
]
