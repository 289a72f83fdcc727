"""Convolutional building blocks shared by every model family.

2D blocks take images (B, C, H, W); 3D blocks (``dims=3``) take video as (B, C, T, H, W), the
layout of ``nn.Conv3d`` (models holding (B, T, C, H, W) clips transpose dims 1 and 2).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.nn.norm import (
    ConditionalBatchNorm,
    check_dims,
    norm_layer,
    spectral_norm_all,
)

Size = int | tuple[int, ...]
ACTIVATIONS = ("relu", "lrelu", "none")

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_TRANSPOSE = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_AVG_POOL = {2: F.avg_pool2d, 3: F.avg_pool3d}


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: Size = 3,
    stride: Size = 1,
    padding: Size | None = None,
    *,
    dims: int = 2,
    spectral: bool = False,
    transpose: bool = False,
    bias: bool = True,
) -> nn.Module:
    """A 2D or 3D (``dims``), plain or transposed convolution, spectral-normalised if
    ``spectral``. ``padding=None`` means ``(kernel_size - 1) // 2`` per axis, which keeps the
    size for odd kernels and halves (stride 2) or doubles (transposed, stride 2) it for 4."""
    if padding is None and isinstance(kernel_size, int):
        padding = (kernel_size - 1) // 2
    elif padding is None:
        padding = tuple((k - 1) // 2 for k in kernel_size)
    kinds = _CONV_TRANSPOSE if transpose else _CONV
    layer = kinds[check_dims(dims)](in_channels, out_channels, kernel_size, stride, padding, bias=bias)
    return spectral_norm_all(layer) if spectral else layer


def _scale(dims: int, temporal: bool) -> Size:
    """Resampling factor of a block: 2 on every axis, or (1, 2, 2) for video kept at full frame rate."""
    return (1, 2, 2) if dims == 3 and not temporal else 2


def _activation(kind: str) -> list[nn.Module]:
    if kind == "relu":
        return [nn.ReLU()]
    if kind == "lrelu":
        return [nn.LeakyReLU(0.2)]
    if kind == "none":
        return []
    raise ValueError(f"unknown activation {kind!r}; choose one of {ACTIVATIONS}")


class ConvNormAct(nn.Sequential):
    """conv → norm (``"batch"``/``"instance"``/``"none"``) → activation (``"relu"``,
    ``"lrelu"`` with slope 0.2, ``"none"``), the pix2pix unit. The conv has a bias unless batch
    norm follows. (B, C, H, W) if ``dims=2``, (B, C, T, H, W) if ``dims=3``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size = 3,
        stride: Size = 1,
        padding: Size | None = None,
        *,
        dims: int = 2,
        norm: str = "batch",
        activation: str = "relu",
        spectral: bool = False,
        transpose: bool = False,
    ):
        layer = conv(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dims=dims,
            spectral=spectral,
            transpose=transpose,
            bias=norm != "batch",
        )
        super().__init__(layer, norm_layer(norm, out_channels, dims), *_activation(activation))


def _batch_norm(channels: int, dims: int, num_classes: int | None, cond_dim: int | None) -> nn.Module:
    if num_classes is None and cond_dim is None:
        return norm_layer("batch", channels, dims)
    return ConditionalBatchNorm(channels, num_classes, cond_dim, dims)


def _normalize(norm: nn.Module, x: Tensor, cond: Tensor | None) -> Tensor:
    if isinstance(norm, ConditionalBatchNorm):
        return norm(x, cond)
    if cond is not None:
        raise ValueError("this block is not conditional (no num_classes or cond_dim); pass cond=None")
    return norm(x)


class GeneratorResBlock(nn.Module):
    """BigGAN generator block: BN-ReLU-up-conv-BN-ReLU-conv, plus a shortcut (up, then a 1×1 conv
    when channels change or it upsamples).

    BN is class-conditional (:class:`ConditionalBatchNorm`) when ``num_classes`` or ``cond_dim``
    is given; then ``forward`` takes ``cond``. ``up`` doubles H and W (and T if ``temporal``).
    ``spectral`` normalises every conv and the conditional gains, as BigGAN does.
    Input (B, C, H, W) if ``dims=2``, (B, C, T, H, W) if ``dims=3``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        up: bool = True,
        dims: int = 2,
        num_classes: int | None = None,
        cond_dim: int | None = None,
        spectral: bool = True,
        temporal: bool = False,
    ):
        super().__init__()
        self.scale = _scale(check_dims(dims), temporal) if up else None
        self.norm1 = _batch_norm(in_channels, dims, num_classes, cond_dim)
        self.conv1 = conv(in_channels, out_channels, dims=dims)
        self.norm2 = _batch_norm(out_channels, dims, num_classes, cond_dim)
        self.conv2 = conv(out_channels, out_channels, dims=dims)
        learnable = in_channels != out_channels or up
        self.shortcut = conv(in_channels, out_channels, 1, dims=dims) if learnable else nn.Identity()
        if spectral:
            spectral_norm_all(self)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """(B, C_in, [T,] H, W) → (B, C_out, [T',] H', W'); ``cond`` as for ConditionalBatchNorm."""
        h = F.relu(_normalize(self.norm1, x, cond))
        if self.scale is not None:
            h = F.interpolate(h, scale_factor=self.scale, mode="nearest")
            x = F.interpolate(x, scale_factor=self.scale, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(F.relu(_normalize(self.norm2, h, cond)))
        return h + self.shortcut(x)


class DiscriminatorResBlock(nn.Module):
    """BigGAN discriminator block: ReLU-conv-ReLU-conv-avgpool, plus a shortcut (avgpool, then a
    1×1 conv when channels change or it downsamples; the two commute).

    ``preactivation=False`` drops the first ReLU (the first block, which sees the image).
    ``down`` halves H and W (and T if ``temporal``). No normalisation; ``spectral`` normalises
    every conv. Input (B, C, H, W) if ``dims=2``, (B, C, T, H, W) if ``dims=3``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        down: bool = True,
        dims: int = 2,
        spectral: bool = True,
        preactivation: bool = True,
        temporal: bool = False,
    ):
        super().__init__()
        self.pool = _AVG_POOL[check_dims(dims)]
        self.scale = _scale(dims, temporal) if down else None
        self.preactivation = preactivation
        self.conv1 = conv(in_channels, out_channels, dims=dims)
        self.conv2 = conv(out_channels, out_channels, dims=dims)
        learnable = in_channels != out_channels or down
        self.shortcut = conv(in_channels, out_channels, 1, dims=dims) if learnable else nn.Identity()
        if spectral:
            spectral_norm_all(self)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, [T,] H, W) → (B, C_out, [T',] H', W')."""
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.scale is not None:
            h = self.pool(h, self.scale)
            x = self.pool(x, self.scale)
        return h + self.shortcut(x)


class UNet(nn.Module):
    """pix2pix-style U-Net on images (B, C, H, W) → (B, out_channels, H, W), used by PG2 and TP-GAN.

    Encoder level i: 4×4 stride-2 conv to ``channels[i]``, norm (none at the first level), LeakyReLU
    0.2; decoder: 4×4 stride-2 transposed conv, norm, ReLU, then concatenation with the encoder
    feature of the same size (skip connection); the last transposed conv maps to
    ``out_channels``, followed by tanh if ``tanh``. H and W must be multiples of
    ``2 ** len(channels)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: tuple[int, ...] = (64, 128, 256, 512, 512),
        norm: str = "batch",
        tanh: bool = True,
    ):
        super().__init__()
        if not channels:
            raise ValueError("UNet needs at least one level in channels")
        self.encoder = nn.ModuleList(
            ConvNormAct(c_in, c_out, 4, 2, norm="none" if i == 0 else norm, activation="lrelu")
            for i, (c_in, c_out) in enumerate(zip((in_channels, *channels[:-1]), channels))
        )
        # Decoder level i maps the level below it back up to channels[i]; its input is
        # channels[i + 1] wide, twice that above the bottom (the skip is concatenated).
        depth = len(channels)
        widths = [channels[i + 1] * (1 if i == depth - 2 else 2) for i in range(depth - 1)]
        self.decoder = nn.ModuleList(
            ConvNormAct(widths[i], channels[i], 4, 2, norm=norm, transpose=True) for i in reversed(range(depth - 1))
        )
        self.head = conv(channels[0] * (1 if depth == 1 else 2), out_channels, 4, 2, transpose=True)
        self.tanh = tanh

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, H, W) → (B, out_channels, H, W)."""
        multiple = 2 ** len(self.encoder)
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"UNet input H and W must be multiples of {multiple}, got {tuple(x.shape[-2:])}")
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        skips.pop()
        for layer in self.decoder:
            x = torch.cat([layer(x), skips.pop()], dim=1)
        x = self.head(x)
        return torch.tanh(x) if self.tanh else x


class DiscriminatorOutput(NamedTuple):
    """What a PatchGAN returns: ``logits`` and the intermediate ``features`` (for feature
    matching). :class:`~vidgan.nn.GANLoss`, :func:`~vidgan.nn.r1_penalty` and
    :func:`~vidgan.nn.feature_matching_loss` accept it (and lists of it) as they are."""

    logits: Tensor
    features: list[Tensor]


class PatchDiscriminator(nn.Module):
    """pix2pixHD PatchGAN (70×70 receptive field for ``n_layers=3``, padding 2): ``n_layers``
    4×4 stride-2 conv-norm-LeakyReLU units (channels doubling from ``channels`` up to 512, no norm
    on the first), one stride-1 unit, and a 1-channel conv giving a logit per patch.

    ``dims=2``: (B, C, H, W) → logits (B, 1, h, w). ``dims=3``: video (B, C, T, H, W) → (B, 1, T, h, w)
    with 3×4×4 kernels that keep T and stride only in space. Returns a :class:`DiscriminatorOutput`
    ``(logits, features)``, ``features`` being the output of every unit before the last conv.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = 64,
        n_layers: int = 3,
        norm: str = "instance",
        dims: int = 2,
        spectral: bool = False,
    ):
        super().__init__()
        video = check_dims(dims) == 3
        kernel: Size = (3, 4, 4) if video else 4
        padding: Size = (1, 2, 2) if video else 2  # pix2pixHD's; T is kept
        down: Size = (1, 2, 2) if video else 2
        widths = [min(channels * 2**i, 512) for i in range(n_layers + 1)]
        self.units = nn.ModuleList(
            ConvNormAct(
                c_in,
                c_out,
                kernel,
                down if i < n_layers else 1,
                padding,
                dims=dims,
                norm="none" if i == 0 else norm,
                activation="lrelu",
                spectral=spectral,
            )
            for i, (c_in, c_out) in enumerate(zip([in_channels, *widths[:-1]], widths))
        )
        self.head = conv(widths[-1], 1, kernel, 1, padding, dims=dims, spectral=spectral)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        """(B, C, [T,] H, W) → (logits (B, 1, [T,] h, w), list of n_layers + 1 feature maps)."""
        features = []
        for unit in self.units:
            x = unit(x)
            features.append(x)
        return DiscriminatorOutput(self.head(x), features)


class MultiScaleDiscriminator(nn.Module):
    """pix2pixHD multi-scale discriminator: ``num_scales`` :class:`PatchDiscriminator` copies, the
    k-th seeing the input average-pooled k times (3×3, stride 2, spatial only for video).

    Returns a list, finest scale first, of :class:`DiscriminatorOutput` ``(logits, features)``,
    which GANLoss, r1_penalty and feature_matching_loss take as it is.
    """

    def __init__(
        self,
        in_channels: int,
        num_scales: int = 3,
        channels: int = 64,
        n_layers: int = 3,
        norm: str = "instance",
        dims: int = 2,
        spectral: bool = False,
    ):
        super().__init__()
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(in_channels, channels, n_layers, norm, dims, spectral) for _ in range(num_scales)
        )
        self.dims = check_dims(dims)

    def _downsample(self, x: Tensor) -> Tensor:
        if self.dims == 3:
            return F.avg_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1), count_include_pad=False)
        return F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)

    def forward(self, x: Tensor) -> list[DiscriminatorOutput]:
        """(B, C, [T,] H, W) → ``num_scales`` pairs (logits, features), finest first."""
        outputs = []
        for i, discriminator in enumerate(self.discriminators):
            if i:
                x = self._downsample(x)
            outputs.append(discriminator(x))
        return outputs
