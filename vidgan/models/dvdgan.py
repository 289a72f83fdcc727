"""DVD-GAN (Clark et al. 2019, "Adversarial Video Generation on Complex Datasets").

Generator: ``[z; e(y)]`` (latent and class embedding) goes through an affine map to a 4x4
feature map, which is the input of a ConvGRU at every frame; each frame's GRU state then goes
through BigGAN residual upsampling blocks with class-conditional batch norm (conditioned on
``[z; e(y)]``) and self-attention at one resolution. Two discriminators: the spatial one scores
``spatial_frames`` (k = 8) randomly chosen full-resolution frames and sums their scores; the
temporal one sees the whole clip 2x2 average-pooled, its first two residual blocks 3D. Both are
projection discriminators (class embedding dot features). Hinge loss; the generator minimises
``-D(G(z))``, i.e. ``-(D_S + D_T)``. Spectral norm on every layer of both networks, built in.
The trainer and ``FAMILY`` live in :mod:`vidgan.train.recipes.dvdgan`.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.models.video_gan import Category, VideoGAN, levels, randn, sampling
from vidgan.nn import (
    ConvGRU,
    DiscriminatorResBlock,
    GeneratorResBlock,
    SelfAttention2d,
    conv,
    spectral_norm_all,
)


def _generator_width(ch: int, size: int, resolution: int) -> int:
    """Channels of the generator at ``resolution``: 8ch at 4x4 and 8x8, halving up to ch."""
    return ch * min(8, size // resolution)


def _discriminator_width(ch: int, size: int, resolution: int) -> int:
    """Channels of a discriminator block's output at ``resolution``: ch at size/2, doubling to 8ch."""
    return ch * min(8, max(1, size // (2 * resolution)))


class DVDGANGenerator(nn.Module):
    """``[z; e(y)]`` -> affine 4x4 map -> ConvGRU over frames -> per-frame residual upsampling
    (conditional BN, self-attention at ``attention_resolution``) -> BN, ReLU, conv, tanh."""

    def __init__(self, size: int, channels: int, num_classes: int, dim_z: int, ch: int, attention_resolution: int):
        super().__init__()
        self.dim_z, self.num_classes, self.attention_resolution = dim_z, num_classes, attention_resolution
        self.embedding = nn.Embedding(num_classes, dim_z) if num_classes else None
        cond_dim = dim_z * (2 if num_classes else 1)
        base = _generator_width(ch, size, 4)
        self.affine = nn.Linear(cond_dim, base * 16)
        self.recurrent = ConvGRU(base, base, spectral=True)
        resolutions = [4 << i for i in range(levels(size))]  # input resolution of each block
        self.blocks = nn.ModuleList(
            GeneratorResBlock(_generator_width(ch, size, r), _generator_width(ch, size, 2 * r), cond_dim=cond_dim)
            for r in resolutions
        )
        if attention_resolution and attention_resolution not in [2 * r for r in resolutions]:
            raise ValueError(f"attention_resolution must be 0 or one of {[2 * r for r in resolutions]}")
        self.attention = (
            SelfAttention2d(_generator_width(ch, size, attention_resolution), spectral=True)
            if attention_resolution else None
        )
        self.out = nn.Sequential(nn.BatchNorm2d(_generator_width(ch, size, size)), nn.ReLU(),
                                 conv(_generator_width(ch, size, size), channels, 3), nn.Tanh())
        spectral_norm_all(self)

    def forward(self, z: Tensor, category: Tensor | None, length: int) -> Tensor:
        """``z`` ``(B, dim_z)``, ``category`` ``(B,)`` class ids (None without classes) ->
        ``length`` frames ``(B, T, C, H, W)`` in [-1, 1]."""
        cond = z if self.embedding is None else torch.cat([z, self.embedding(category)], dim=1)
        b = z.shape[0]
        x = self.affine(cond).view(b, -1, 4, 4)
        h = self.recurrent(x[:, None].expand(-1, length, -1, -1, -1)).flatten(0, 1)  # (B*T, C, 4, 4)
        cond = cond.repeat_interleave(length, dim=0)
        for block in self.blocks:
            h = block(h, cond)
            if self.attention is not None and h.shape[-1] == self.attention_resolution:
                h = self.attention(h)
        frames = self.out(h)
        return frames.view(b, length, *frames.shape[1:])


class _Projection(nn.Module):
    """A projection discriminator's output: ``linear(h) + <embed(y), h>`` (spectral-normalised)."""

    def __init__(self, width: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(width, 1)
        self.embedding = nn.Embedding(num_classes, width) if num_classes else None

    def forward(self, features: Tensor, category: Tensor | None) -> Tensor:
        """``features`` ``(B, width)``, ``category`` ``(B,)`` or None -> scores ``(B,)``."""
        score = self.linear(features).squeeze(1)
        if self.embedding is not None:
            score = score + (self.embedding(category) * features).sum(1)
        return score


class SpatialDiscriminator(nn.Module):
    """DVD-GAN's D_S: a BigGAN discriminator on single full-resolution frames; a clip's score is
    the sum of its frames' scores."""

    def __init__(self, size: int, channels: int, num_classes: int, ch: int):
        super().__init__()
        resolutions = [size >> i for i in range(1, levels(size) + 1)]  # outputs: size/2 .. 4
        widths = [_discriminator_width(ch, size, r) for r in resolutions]
        self.blocks = nn.Sequential(
            DiscriminatorResBlock(channels, widths[0], preactivation=False),
            *(DiscriminatorResBlock(a, b) for a, b in pairwise(widths)),
            DiscriminatorResBlock(widths[-1], widths[-1], down=False),
        )
        self.projection = _Projection(widths[-1], num_classes)
        spectral_norm_all(self)

    def forward(self, frames: Tensor, category: Tensor | None = None) -> Tensor:
        """``frames`` ``(B, K, C, H, W)`` -> scores ``(B,)`` (summed over the K frames)."""
        b, k = frames.shape[:2]
        features = F.relu(self.blocks(frames.flatten(0, 1))).sum((2, 3))
        labels = None if category is None else category.repeat_interleave(k)
        return self.projection(features, labels).view(b, k).sum(1)


class TemporalDiscriminator(nn.Module):
    """DVD-GAN's D_T: the clip 2x2 average-pooled, two 3D residual blocks (halving T, H and W),
    then 2D residual blocks per frame; features summed over space and time."""

    def __init__(self, size: int, channels: int, num_classes: int, ch: int):
        super().__init__()
        count = levels(size) - 1  # blocks from size/2 down to 4
        if count < 2:
            raise ValueError(f"the temporal discriminator needs size >= 32, got {size}")
        widths = [_discriminator_width(ch, size, (size // 2) >> i) for i in range(1, count + 1)]
        self.blocks_3d = nn.Sequential(
            DiscriminatorResBlock(channels, widths[0], dims=3, temporal=True, preactivation=False),
            DiscriminatorResBlock(widths[0], widths[1], dims=3, temporal=True),
        )
        self.blocks_2d = nn.Sequential(
            *(DiscriminatorResBlock(a, b) for a, b in pairwise(widths[1:])),
            DiscriminatorResBlock(widths[-1], widths[-1], down=False),
        )
        self.projection = _Projection(widths[-1], num_classes)
        spectral_norm_all(self)

    def forward(self, video: Tensor, category: Tensor | None = None) -> Tensor:
        """``video`` ``(B, T, C, H, W)`` (T a multiple of 4) -> scores ``(B,)``."""
        x = F.avg_pool3d(video.transpose(1, 2), (1, 2, 2))  # (B, C, T, H/2, W/2)
        x = self.blocks_3d(x)  # (B, C', T/4, H/8, W/8)
        b, t = x.shape[0], x.shape[2]
        x = self.blocks_2d(x.transpose(1, 2).flatten(0, 1))
        features = F.relu(x).sum((2, 3)).view(b, t, -1).sum(1)
        return self.projection(features, category)


class DVDGAN(VideoGAN):
    """DVD-GAN's generator and its spatial and temporal discriminators (see the module docstring).

    ``ch``: base width (the generator has 8ch at 4x4, ch at full size); ``attention_resolution``:
    where the generator's self-attention sits (0: none); ``spatial_frames``: k, the frames D_S sees.
    """

    def __init__(
        self,
        size: int = 64,
        channels: int = 3,
        video_length: int = 16,
        num_classes: int = 0,
        dim_z: int = 120,
        ch: int = 32,
        attention_resolution: int = 32,
        spatial_frames: int = 8,
    ) -> None:
        super().__init__()
        if video_length % 4:
            raise ValueError(f"video_length must be a multiple of 4 (two 3D blocks halve it), got {video_length}")
        if not 1 <= spatial_frames <= video_length:
            raise ValueError(f"spatial_frames must be in 1..{video_length}, got {spatial_frames}")
        self.size, self.channels, self.video_length, self.num_classes = size, channels, video_length, num_classes
        self.spatial_frames = spatial_frames
        self.generator = DVDGANGenerator(size, channels, num_classes, dim_z, ch, attention_resolution)
        self.discriminators = nn.ModuleDict({
            "spatial": SpatialDiscriminator(size, channels, num_classes, ch),
            "temporal": TemporalDiscriminator(size, channels, num_classes, ch),
        })

    def sample(
        self,
        n: int,
        length: int | None = None,
        category: Category = None,
        z: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``n`` videos ``(n, T, C, H, W)`` in [-1, 1] of ``length`` frames (default: the training
        length; the ConvGRU runs on for longer ones); ``z`` ``(n or 1, dim_z)`` drawn when None;
        ``category`` an int or ``(n,)`` class ids (default random)."""
        z = randn((n, self.generator.dim_z), generator, self.device) if z is None else z.to(self.device).expand(n, -1)
        labels = self.labels(n, category, generator)
        with sampling(self.generator):
            return self.generator(z, labels, length or self.video_length)


__all__ = [
    "DVDGAN",
    "DVDGANGenerator",
    "SpatialDiscriminator",
    "TemporalDiscriminator",
]
