"""TP-GAN: face frontalization (Huang et al. 2017, "Beyond Face Rotation: Global and Local
Perception GAN for Photorealistic and Identity Preserving Frontal View Synthesis").

Model (:class:`Frontalizer`): aligned face crops ``(B, 3, S, S)`` (``crop_size`` S, framing
``crop_scale`` of :func:`vidgan.keypoints.align.face_transform`, as :mod:`vidgan.data.face_crops`
aligns them) with their iBUG-68 landmarks -> the frontal face. ``generator``
(:class:`TPGANGenerator`) has two pathways:

- local: four small :class:`vidgan.nn.UNet` encoder-decoders, one per part (left eye, right eye,
  nose, mouth), on patches of the input centred on the part's landmarks (eyes: means of 36-41
  and 42-47, nose tip 30, mouth: mean of 48-67), cut out batched with kornia
  (:func:`extract_patches`). Each gives features and a frontal patch image; both are pasted
  (:func:`paste_patches`, the inverse placement) at the part's position in the frontal
  template (the eye centres, nose tip and mouth-corner midpoint of
  :func:`~vidgan.keypoints.align.face_template`: a frontal output's parts are where aligned
  frontal faces have them) and the four canvases are fused by their maximum, as the paper does;
- global: an encoder (S, S/2, S/4, S/8, S/16), a fully connected bottleneck (maxout feature,
  concatenated with ``noise_dim`` Gaussian noise), and a decoder with skip connections that
  outputs images at S/4 and S/2 on its way; its last stage concatenates its features, the
  encoder's first features, the input, and the local features and image, and fuses them by
  convolutions into the final S x S image.

``discriminators["image"]``: a PatchGAN on the final image.

The trainer (losses, dataset binding, ``FAMILY``) lives in :mod:`vidgan.train.recipes.tpgan`;
inference (:meth:`Frontalizer.frontalize`) uses zero noise.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from kornia.geometry.transform import warp_affine
from torch import Tensor, nn

from vidgan.keypoints.align import face_template
from vidgan.models.base import FaceModel
from vidgan.nn import ConvNormAct, PatchDiscriminator, UNet, conv

__all__ = [
    "PARTS",
    "Frontalizer",
    "LocalPathway",
    "TPGANGenerator",
    "TPGANOutput",
    "extract_patches",
    "part_centres",
    "paste_patches",
    "template_centres",
]

#: The local pathways, in the order of every per-part tuple.
PARTS = ("left_eye", "right_eye", "nose", "mouth")
#: The paper's patch sizes ``(h, w)`` at 128 x 128.
PAPER_PATCHES = {"left_eye": (40, 40), "right_eye": (40, 40), "nose": (32, 40), "mouth": (32, 48)}


def part_centres(landmarks: Tensor) -> Tensor:
    """Centres ``(B, 4, 2)`` of the :data:`PARTS` from iBUG-68 ``landmarks (B, 68, 2)``: eye
    means (36-41, 42-47), nose tip (30), mouth mean (48-67)."""
    return torch.stack([landmarks[:, 36:42].mean(1), landmarks[:, 42:48].mean(1), landmarks[:, 30],
                        landmarks[:, 48:68].mean(1)], dim=1)


def template_centres(crop_size: int, crop_scale: float = 1.0) -> Tensor:
    """Where the :data:`PARTS` of an aligned frontal face are, ``(4, 2)`` float32 crop pixels: the
    alignment template's eye centres and nose tip, and its mouth corners' midpoint."""
    five = face_template(crop_size, crop_scale)
    return torch.cat([five[:3], five[3:].mean(0, keepdim=True)]).float()


def _placement(centres: Tensor, size: tuple[int, int], sign: float = 1.0) -> Tensor:
    """Translations ``(B, 2, 3)`` taking the pixels of a ``size (h, w)`` patch centred at
    ``centres (B, 2)`` to image pixels (``sign=-1``: image to patch), pixel centres on integers."""
    matrices = torch.zeros(centres.shape[0], 2, 3, dtype=centres.dtype, device=centres.device)
    matrices[:, 0, 0] = matrices[:, 1, 1] = 1
    matrices[:, 0, 2] = sign * (centres[:, 0] - (size[1] - 1) / 2)
    matrices[:, 1, 2] = sign * (centres[:, 1] - (size[0] - 1) / 2)
    return matrices


def extract_patches(images: Tensor, centres: Tensor, size: tuple[int, int]) -> Tensor:
    """Patches ``(B, C, h, w)`` of ``images (B, C, H, W)`` centred at ``centres (B, 2)`` (pixels,
    sub-pixel bilinear; zeros outside the image); differentiable in ``images``."""
    return warp_affine(images, _placement(centres.to(images.dtype), size, -1.0), size, align_corners=True)


def paste_patches(patches: Tensor, centres: Tensor, size: tuple[int, int], fill: float = 0.0) -> Tensor:
    """Canvases ``(B, C, H, W)`` holding ``patches (B, C, h, w)`` centred at ``centres (B, 2)``
    (the inverse placement of :func:`extract_patches`) and ``fill`` elsewhere."""
    placement = _placement(centres.to(patches.dtype), tuple(patches.shape[-2:]))
    return warp_affine(patches - fill, placement, size, align_corners=True) + fill


class TPGANOutput(NamedTuple):
    """What the generator makes, all in [-1, 1]: ``image (B, 3, S, S)``, ``half (B, 3, S/2, S/2)``
    and ``quarter (B, 3, S/4, S/4)`` (the global decoder's outputs), ``local (B, 3, S, S)`` (the
    fused local patches, -1 off them) and ``patches``, one ``(B, 3, h, w)`` per part of
    :data:`PARTS`."""

    image: Tensor
    half: Tensor
    quarter: Tensor
    local: Tensor
    patches: tuple[Tensor, ...]


class LocalPathway(nn.Module):
    """One part's encoder-decoder: a patch ``(B, 3, h, w)`` -> features ``(B, features, h, w)``
    (ReLU) and a frontal patch image ``(B, 3, h, w)`` (tanh)."""

    def __init__(self, channels: tuple[int, ...], features: int, norm: str) -> None:
        super().__init__()
        self.unet = UNet(3, features, tuple(channels), norm, tanh=False)
        self.to_image = conv(features, 3, 3)

    def forward(self, patch: Tensor) -> tuple[Tensor, Tensor]:
        features = F.relu(self.unet(patch))
        return features, torch.tanh(self.to_image(features))


class TPGANGenerator(nn.Module):
    """The global and local pathways (module docstring) for ``crop_size`` crops framed by
    ``crop_scale``; arguments as :class:`Frontalizer`'s, with ``patches`` the resolved ``(h, w)``
    of each part of :data:`PARTS`."""

    def __init__(self, crop_size: int, crop_scale: float, channels: tuple[int, ...], fc_dim: int,
                 fc_channels: int, noise_dim: int, local_channels: tuple[int, ...], local_features: int,
                 patches: tuple[tuple[int, int], ...], norm: str) -> None:
        super().__init__()
        c0, c1, c2, c3, c4 = channels
        self.crop_size, self.noise_dim, self.fc_channels = crop_size, noise_dim, fc_channels
        self.patch_sizes = patches
        self.register_buffer("template", template_centres(crop_size, crop_scale), persistent=False)
        self.encoder = nn.ModuleList([
            ConvNormAct(3, c0, 7, 1, norm="none", activation="lrelu"),
            ConvNormAct(c0, c1, 5, 2, norm=norm, activation="lrelu"),
            ConvNormAct(c1, c2, 3, 2, norm=norm, activation="lrelu"),
            ConvNormAct(c2, c3, 3, 2, norm=norm, activation="lrelu"),
            ConvNormAct(c3, c4, 3, 2, norm=norm, activation="lrelu"),
        ])
        self.bottom = crop_size // 16
        self.fc = nn.Linear(c4 * self.bottom**2, 2 * fc_dim)  # maxout over pairs -> fc_dim
        self.fc_up = nn.Linear(fc_dim + noise_dim, fc_channels * self.bottom**2)
        self.up8 = ConvNormAct(fc_channels + c4, c3, 4, 2, norm=norm, transpose=True)
        self.up4 = ConvNormAct(2 * c3, c2, 4, 2, norm=norm, transpose=True)
        self.up2 = ConvNormAct(2 * c2 + 3, c1, 4, 2, norm=norm, transpose=True)
        self.up1 = ConvNormAct(2 * c1 + 3, c0, 4, 2, norm=norm, transpose=True)
        self.to_quarter = conv(c2, 3, 3)
        self.to_half = conv(c1, 3, 3)
        self.fuse = nn.Sequential(
            ConvNormAct(2 * c0 + 3 + local_features + 3, c0, 5, norm=norm),
            ConvNormAct(c0, c0, 3, norm=norm),
            conv(c0, 3, 3),
        )
        self.local = nn.ModuleList(LocalPathway(local_channels, local_features, norm) for _ in PARTS)

    def forward(self, profile: Tensor, landmarks: Tensor, noise: Tensor | None = None) -> TPGANOutput:
        """``profile (B, 3, S, S)`` in [-1, 1], its ``landmarks (B, 68, 2)`` (crop pixels) and
        ``noise (B, noise_dim)`` (None: zeros) -> :class:`TPGANOutput`."""
        batch, size = profile.shape[0], (self.crop_size, self.crop_size)
        if tuple(profile.shape[-2:]) != size:
            raise ValueError(f"crops must be {size}, got {tuple(profile.shape[-2:])}")
        centres = part_centres(landmarks.to(profile.dtype))
        local_features, local_images, patches = [], [], []
        for k, (pathway, patch_size) in enumerate(zip(self.local, self.patch_sizes, strict=True)):
            features, image = pathway(extract_patches(profile, centres[:, k], patch_size))
            place = self.template[k].to(profile.dtype).expand(batch, 2)
            local_features.append(paste_patches(features, place, size))
            local_images.append(paste_patches(image, place, size, fill=-1.0))
            patches.append(image)
        local_feature = torch.stack(local_features).amax(0)
        local_image = torch.stack(local_images).amax(0)

        skips = []
        x = profile
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        hidden = self.fc(x.flatten(1)).view(batch, -1, 2).amax(-1)
        if self.noise_dim:
            noise = profile.new_zeros(batch, self.noise_dim) if noise is None else noise.to(profile.dtype)
            hidden = torch.cat([hidden, noise], dim=1)
        x = F.relu(self.fc_up(hidden)).view(batch, self.fc_channels, self.bottom, self.bottom)
        x = self.up8(torch.cat([x, skips[4]], dim=1))
        x = self.up4(torch.cat([x, skips[3]], dim=1))
        quarter = torch.tanh(self.to_quarter(x))
        x = self.up2(torch.cat([x, skips[2], quarter], dim=1))
        half = torch.tanh(self.to_half(x))
        x = self.up1(torch.cat([x, skips[1], half], dim=1))
        image = torch.tanh(self.fuse(torch.cat([x, skips[0], profile, local_feature, local_image], dim=1)))
        return TPGANOutput(image, half, quarter, local_image, tuple(patches))


def _patch_size(given: tuple[int, int] | None, part: str, crop_size: int, crop_scale: float,
                multiple: int) -> tuple[int, int]:
    """``given`` (checked), or the paper's size of ``part`` scaled to this geometry and rounded
    to a multiple of ``multiple`` (the local U-Net's depth)."""
    if given is None:
        factor = crop_size / 128 / crop_scale
        height, width = (max(1, math.floor(side * factor / multiple + 0.5)) * multiple for side in PAPER_PATCHES[part])
        return height, width
    height, width = (int(v) for v in given)
    if height % multiple or width % multiple or not 0 < max(height, width) <= crop_size:
        raise ValueError(f"{part} patch {given} must be multiples of {multiple} (the local U-Nets' depth) "
                         f"and fit the {crop_size} crop")
    return height, width


class Frontalizer(FaceModel):
    """TP-GAN (module docstring) for ``crop_size`` crops (a multiple of 16; the paper's 128)
    aligned with ``crop_scale``, stored so that videos are cropped the same way.

    ``channels``: widths of the global encoder's five levels (S ... S/16; the decoder mirrors
    them); ``fc_dim``: the bottleneck feature (maxout of ``2 * fc_dim``); ``fc_channels``: its
    reshaped map at S/16; ``noise_dim``: noise concatenated to it (0: none). ``local_channels``,
    ``local_features``: the local U-Nets' widths and output features; ``eye_patch``,
    ``nose_patch``, ``mouth_patch``: patch ``(h, w)`` in crop pixels (None: the paper's 40x40,
    32x40, 32x48 at 128 scaled by ``crop_size / 128 / crop_scale``, rounded to multiples of
    ``2 ** len(local_channels)``). ``norm``: the generator's normalisation (the paper's batch
    norm); ``d_channels``, ``d_layers``: the PatchGAN."""

    def __init__(
        self,
        crop_size: int = 128,
        crop_scale: float = 1.0,
        channels: tuple[int, ...] = (64, 64, 128, 256, 512),
        fc_dim: int = 256,
        fc_channels: int = 64,
        noise_dim: int = 100,
        local_channels: tuple[int, ...] = (64, 128, 256),
        local_features: int = 64,
        eye_patch: tuple[int, int] | None = None,
        nose_patch: tuple[int, int] | None = None,
        mouth_patch: tuple[int, int] | None = None,
        norm: str = "batch",
        d_channels: int = 64,
        d_layers: int = 3,
    ) -> None:
        super().__init__()
        if crop_size % 16:
            raise ValueError(f"crop_size must be a multiple of 16 (the encoder's depth), got {crop_size}")
        if len(channels) != 5:
            raise ValueError(f"channels must list the 5 encoder levels, got {tuple(channels)}")
        if noise_dim < 0:
            raise ValueError(f"noise_dim must be >= 0, got {noise_dim}")
        multiple = 2 ** len(local_channels)
        given = {"left_eye": eye_patch, "right_eye": eye_patch, "nose": nose_patch, "mouth": mouth_patch}
        patches = tuple(_patch_size(given[part], part, crop_size, crop_scale, multiple) for part in PARTS)
        self.generator = TPGANGenerator(crop_size, crop_scale, tuple(channels), fc_dim, fc_channels, noise_dim,
                                        tuple(local_channels), local_features, patches, norm)
        self.discriminators = nn.ModuleDict({"image": PatchDiscriminator(3, d_channels, d_layers, "instance")})



    @property
    def noise_dim(self) -> int:
        return int(self.config["noise_dim"])

    @property
    def patch_sizes(self) -> dict[str, tuple[int, int]]:
        """The ``(h, w)`` of each part's patch."""
        return dict(zip(PARTS, self.generator.patch_sizes, strict=True))

    def forward(self, profile: Tensor, landmarks: Tensor, noise: Tensor | None = None) -> TPGANOutput:
        """The generator's multi-scale outputs (:class:`TPGANOutput`) for ``profile (B, 3, S, S)``
        and ``landmarks (B, 68, 2)``."""
        return self.generator(profile, landmarks, noise)

    @torch.no_grad()
    def frontalize(self, crops: Tensor, landmarks: Tensor) -> Tensor:
        """Frontal faces ``(B, 3, S, S)`` in [-1, 1] of aligned ``crops (B, 3, S, S)`` in [-1, 1]
        with their iBUG-68 ``landmarks (B, 68, 2)`` (crop pixels): the generator in eval mode
        (normalisation statistics fixed), zero noise, on the model's device."""
        device = self.device
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(crops.to(device).float(), landmarks.to(device).float()).image
        finally:
            self.generator.train(was_training)
