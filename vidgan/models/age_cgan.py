"""Age-cGAN: face aging with a conditional GAN (Antipov et al. 2017, "Face Aging With Conditional
Generative Adversarial Networks").

Model (:class:`FaceAger`), on aligned face crops (``crop_size``, ``crop_scale``: the geometry of
:func:`vidgan.keypoints.align.face_transform`, which the video pipeline crops with too) and age
groups given by their lower bounds (``age_groups``, the paper's 0-18, 19-29, ..., 60+):

- G, ``generator`` (:class:`AgeCGANGenerator`): the DCGAN of the paper, ``[z; y]`` (latent and
  the age group one-hot) -> a 4x4 map -> stride-2 transposed convolutions -> tanh;
- D, ``discriminators["image"]`` (:class:`AgeDiscriminator`): a DCGAN discriminator whose first
  convolution's output is concatenated with the one-hot broadcast as feature maps, as the paper;
- E, ``encoder`` (:class:`AgeEncoder`): image -> z, the paper's latent approximation. It lives
  inside the generator module (``generator.encoder``, also ``model.encoder``), so the one trainer
  optimises, averages over workers, EMA-averages and checkpoints it with G without a third
  optimiser; G's forward never runs it.

Inference (:meth:`FaceAger.age`): z0 = E(x); the paper's identity-preserving optimisation refines
z so that the reconstruction G(z, y0) at the input's own group y0 keeps the identity of x (the
cosine distance of a pluggable face-embedding network, :class:`vidgan.nn.identity.IdentityLoss`;
without one, a pixel + landmark fallback: L1 of low-passed images plus L1 inside the eye, nose
and mouth regions drawn from the 68 landmarks, with a warning); then G(z, y_target). The input's
group comes from ``source_age``, or else is the group whose reconstruction fits best.
:meth:`FaceAger.age_video` does one face track at once: one identity per track (the mean latent,
refined on key frames spread over it) plus per-frame offsets smoothed over time by a Gaussian of
``temporal_sigma`` frames.

The trainer (the paper's two stages, losses, dataset binding, ``FAMILY``) lives in
:mod:`vidgan.train.recipes.age_cgan`.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch import Tensor, nn

from vidgan.keypoints.skeletons import IBUG68_PARTS
from vidgan.models.base import FaceModel
from vidgan.nn import ConvNormAct, conv
from vidgan.nn.identity import IdentityLoss

__all__ = [
    "AgeCGANGenerator",
    "AgeDiscriminator",
    "AgeEncoder",
    "FaceAger",
    "age_group_indices",
    "face_region_mask",
    "temporal_smoothing",
]

#: The paper's age groups as lower bounds: 0-18, 19-29, 30-39, 40-49, 50-59, 60+.
PAPER_AGE_GROUPS = (0, 19, 30, 40, 50, 60)
#: Frames of a track the shared identity offset of :meth:`FaceAger.age_video` is fitted on.
KEY_FRAMES = 32
#: Frames encoded or generated at once by :meth:`FaceAger.age_video` (memory stays flat on long tracks).
VIDEO_CHUNK = 256
#: iBUG-68 index ranges of the regions the fallback identity objective weights up: eyes, nose, mouth.
_REGIONS = (
    IBUG68_PARTS["right_eye"][:2],
    IBUG68_PARTS["left_eye"][:2],
    (IBUG68_PARTS["nose_bridge"][0], IBUG68_PARTS["nose_base"][1]),
    (IBUG68_PARTS["outer_lip"][0], IBUG68_PARTS["inner_lip"][1]),
)


class AgeCGANGenerator(nn.Module):
    """G: ``[z; one-hot y]`` -> linear -> ``channels[0]`` x 4 x 4 -> stride-2 transposed convs
    (batch norm, ReLU) through ``channels[1:]`` -> a last one to RGB, tanh: ``4 * 2 ** len(channels)``
    pixels. Holds the encoder E as ``encoder`` (see the module docstring); ``forward`` is G."""

    def __init__(self, z_dim: int, num_groups: int, channels: Sequence[int], encoder: nn.Module) -> None:
        super().__init__()
        self.z_dim, self.num_groups = z_dim, num_groups
        self.project = nn.Linear(z_dim + num_groups, channels[0] * 16, bias=False)
        self.start = nn.Sequential(nn.BatchNorm2d(channels[0]), nn.ReLU())
        self.ups = nn.Sequential(*(ConvNormAct(c_in, c_out, 4, 2, transpose=True)
                                   for c_in, c_out in itertools.pairwise(channels)))
        self.head = conv(channels[-1], 3, 4, 2, transpose=True)
        self.encoder = encoder

    def forward(self, z: Tensor, groups: Tensor) -> Tensor:
        """``z (B, z_dim)`` and ``groups (B,)`` age group ids -> faces ``(B, 3, S, S)`` in [-1, 1]."""
        condition = F.one_hot(groups.long(), self.num_groups).to(z.dtype)
        x = self.project(torch.cat([z, condition], dim=1)).view(z.shape[0], -1, 4, 4)
        return torch.tanh(self.head(self.ups(self.start(x))))


class AgeDiscriminator(nn.Module):
    """D: 4x4 stride-2 convs through ``channels`` (LeakyReLU 0.2, ``norm`` after the first), the
    age one-hot broadcast to feature maps and concatenated after the first conv, and a last conv
    over the remaining ``S / 2 ** len(channels)`` square to one logit ``(B, 1, 1, 1)``."""

    def __init__(self, crop_size: int, num_groups: int, channels: Sequence[int], norm: str = "batch") -> None:
        super().__init__()
        side = crop_size // 2 ** len(channels)
        if side < 1 or side * 2 ** len(channels) != crop_size:
            raise ValueError(f"crop_size {crop_size} must be a multiple of 2 ** len(d_channels) = {2 ** len(channels)}")
        self.num_groups = num_groups
        self.first = ConvNormAct(3, channels[0], 4, 2, norm="none", activation="lrelu")
        widths = [channels[0] + num_groups, *channels[1:]]
        self.body = nn.Sequential(*(ConvNormAct(c_in, c_out, 4, 2, norm=norm, activation="lrelu")
                                    for c_in, c_out in zip(widths[:-1], channels[1:], strict=True)))
        self.head = conv(widths[-1], 1, side, 1, 0)

    def forward(self, image: Tensor, groups: Tensor) -> Tensor:
        """``image (B, 3, S, S)`` and ``groups (B,)`` -> logits ``(B, 1, 1, 1)``."""
        h = self.first(image)
        maps = F.one_hot(groups.long(), self.num_groups).to(h.dtype)[:, :, None, None].expand(-1, -1, *h.shape[-2:])
        return self.head(self.body(torch.cat([h, maps], dim=1)))


class AgeEncoder(nn.Module):
    """E: 4x4 stride-2 convs through ``channels`` (batch norm after the first, LeakyReLU 0.2),
    then a linear map of the flattened features to ``z (B, z_dim)``."""

    def __init__(self, crop_size: int, z_dim: int, channels: Sequence[int]) -> None:
        super().__init__()
        side = crop_size // 2 ** len(channels)
        if side < 1 or side * 2 ** len(channels) != crop_size:
            raise ValueError(f"crop_size {crop_size} must be a multiple of 2 ** len(e_channels) = {2 ** len(channels)}")
        self.body = nn.Sequential(*(ConvNormAct(c_in, c_out, 4, 2, norm="none" if i == 0 else "batch", activation="lrelu")
                                    for i, (c_in, c_out) in enumerate(zip([3, *channels[:-1]], channels, strict=True))))
        self.out = nn.Linear(channels[-1] * side * side, z_dim)

    def forward(self, image: Tensor) -> Tensor:
        """``image (B, 3, S, S)`` in [-1, 1] -> ``z (B, z_dim)``."""
        return self.out(self.body(image).flatten(1))


# ---- identity objectives ------------------------------------------------------------------


def face_region_mask(landmarks: Tensor, size: int, margin: float = 1.3) -> Tensor:
    """Mask ``(B, 1, S, S)`` in {0, 1} of the eyes, nose and mouth of iBUG-68 ``landmarks
    (B, 68, 2)`` (crop pixels; NaN: unknown, giving no region): per region, the ellipse of its
    points' bounding box grown by ``margin`` (plus a pixel)."""
    coords = torch.arange(size, device=landmarks.device, dtype=torch.float32)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    points = landmarks.float()
    mask = torch.zeros(points.shape[0], size, size, dtype=torch.bool, device=landmarks.device)
    for start, stop in _REGIONS:
        part = points[:, start:stop]
        low, high = part.amin(dim=1), part.amax(dim=1)  # NaN propagates: no region
        centre, axes = (low + high) / 2, (high - low) / 2 * margin + 1
        inside = ((xs - centre[:, None, None, 0]) / axes[:, None, None, 0]) ** 2 + (
            (ys - centre[:, None, None, 1]) / axes[:, None, None, 1]) ** 2 <= 1
        mask |= inside
    return mask[:, None].float()


def temporal_smoothing(values: Tensor, sigma: float) -> Tensor:
    """``values (T, ...)`` averaged over time with a Gaussian of ``sigma`` frames (renormalised
    at the ends, so a constant stays constant); ``sigma`` 0 returns them unchanged."""
    if sigma <= 0:
        return values
    steps = torch.arange(values.shape[0], device=values.device, dtype=torch.float32)
    weights = torch.exp(-0.5 * ((steps[:, None] - steps[None, :]) / sigma) ** 2)
    weights = weights / weights.sum(dim=1, keepdim=True)
    return (weights @ values.flatten(1).float()).view_as(values).to(values.dtype)


def age_group_indices(ages: np.ndarray | Sequence[float], bounds: Sequence[float]) -> np.ndarray:
    """Group ``(N,)`` int64 of each age: the index of the last lower bound in ``bounds``
    (increasing) at or below it; ages below the first bound fall in group 0."""
    ages = np.asarray(ages, np.float64)
    groups = np.searchsorted(np.asarray(bounds, np.float64), ages, side="right") - 1
    return np.clip(groups, 0, len(bounds) - 1).astype(np.int64)


# ---- the model ----------------------------------------------------------------------------


class FaceAger(FaceModel):
    """Age-cGAN (module docstring) on ``crop_size`` face crops aligned at ``crop_scale``.

    ``z_dim``: latent size (paper 100); ``age_groups``: increasing lower bounds in years of the
    age groups (default the paper's six); ``g_channels``: G widths from 4x4 up
    (``crop_size = 4 * 2 ** len(g_channels)``); ``d_channels``, ``d_norm``: D; ``e_channels``: E.
    Crops are float ``(B, 3, S, S)`` in [-1, 1]; landmarks ``(B, 68, 2)`` in crop pixels. The
    inference methods run on the device of the model's parameters, in eval mode.
    """

    def __init__(
        self,
        crop_size: int = 64,
        crop_scale: float = 1.3,
        z_dim: int = 100,
        age_groups: Sequence[float] = PAPER_AGE_GROUPS,
        g_channels: Sequence[int] = (1024, 512, 256, 128),
        d_channels: Sequence[int] = (64, 128, 256, 512),
        e_channels: Sequence[int] = (64, 128, 256, 512),
        d_norm: str = "batch",
    ) -> None:
        super().__init__()
        if len(age_groups) < 1 or any(b <= a for a, b in itertools.pairwise(age_groups)):
            raise ValueError(f"age_groups must be increasing lower bounds in years, got {list(age_groups)}")
        if crop_size != 4 * 2 ** len(g_channels):
            raise ValueError(f"crop_size {crop_size} must be 4 * 2 ** len(g_channels) = {4 * 2 ** len(g_channels)}")
        if crop_scale <= 0 or z_dim < 1:
            raise ValueError(f"crop_scale must be > 0 and z_dim >= 1, got {crop_scale} and {z_dim}")
        encoder = AgeEncoder(crop_size, z_dim, e_channels)
        self.generator = AgeCGANGenerator(z_dim, len(age_groups), g_channels, encoder)
        self.discriminators = nn.ModuleDict({"image": AgeDiscriminator(crop_size, len(age_groups), d_channels, d_norm)})

    @property
    def encoder(self) -> AgeEncoder:
        """E (held by the generator module; see the module docstring)."""
        return self.generator.encoder

    @property
    def num_groups(self) -> int:
        return len(self.config["age_groups"])

    def age_group(self, age: float) -> int:
        """The group of ``age`` years (ages below the first bound: group 0)."""
        return int(age_group_indices([age], self.config["age_groups"])[0])

    def age_groups_of(self, ages: float | Sequence[float] | Tensor, count: int) -> Tensor:
        """Groups ``(count,)`` long on the model's device of one age or ``count`` ages."""
        values = np.asarray(ages.detach().cpu() if isinstance(ages, Tensor) else ages, np.float64).reshape(-1)
        groups = torch.from_numpy(age_group_indices(values, self.config["age_groups"]))
        if groups.numel() not in (1, count):
            raise ValueError(f"need one age or {count}, got {groups.numel()}")
        return groups.expand(count).to(self.device)

    def encode(self, crops: Tensor) -> Tensor:
        """E: ``crops (B, 3, S, S)`` -> ``z (B, z_dim)``."""
        return self.encoder(crops.to(self.device))

    def generate(self, z: Tensor, groups: Tensor) -> Tensor:
        """G: ``z (B, z_dim)`` at age ``groups (B,)`` -> crops ``(B, 3, S, S)``."""
        return self.generator(z.to(self.device), groups.to(self.device))

    def preserve_identity(
        self,
        crops: Tensor,
        z: Tensor,
        groups: Tensor,
        landmarks: Tensor | None = None,
        *,
        steps: int = 50,
        lr: float = 0.05,
        identity: IdentityLoss | str | os.PathLike[str] | None = None,
    ) -> Tensor:
        """The paper's identity-preserving optimisation: ``z (B, z_dim)`` refined by ``steps`` Adam
        steps so that the reconstruction ``G(z, groups)`` keeps the identity of ``crops``
        (:meth:`identity_objective`); per face, the best latent seen is returned (the objective
        never rises)."""
        with self._evaluating():
            return self._refine(crops, z, groups, landmarks, steps, lr, self._identity(identity), shared=False)

    def identity_objective(self, images: Tensor, crops: Tensor, landmarks: Tensor | None = None,
                           identity: IdentityLoss | None = None) -> Tensor:
        """Per-face ``(B,)`` identity distance of ``images`` to ``crops``: ``1 - cos`` of the
        ``identity`` embeddings, or else the fallback (module docstring)."""
        if identity is not None:
            embedded = identity.embed(images)
            with torch.no_grad():
                target = identity.embed(crops)
            return 1 - (embedded * target).sum(dim=1)
        sigma = self.crop_size / 32
        kernel = 2 * math.ceil(2 * sigma) + 1
        low_passed = gaussian_blur2d(torch.cat([images, crops]), (kernel, kernel), (sigma, sigma))
        objective = (low_passed[: len(images)] - low_passed[len(images) :]).abs().mean(dim=(1, 2, 3))
        if landmarks is not None:
            mask = face_region_mask(landmarks.to(images.device), self.crop_size)
            inside = ((images - crops).abs() * mask).sum(dim=(1, 2, 3))
            objective = objective + inside / (3 * mask.sum(dim=(1, 2, 3))).clamp_min(1)
        return objective

    @torch.no_grad()
    def estimate_group(self, crops: Tensor, z: Tensor, landmarks: Tensor | None = None,
                       identity: IdentityLoss | None = None) -> Tensor:
        """Groups ``(B,)``: per face, the group whose reconstruction ``G(z, group)`` fits
        ``crops`` best (:meth:`identity_objective`); the input's age when it is unknown."""
        count = crops.shape[0]
        groups = torch.arange(self.num_groups, device=self.device).repeat_interleave(count)
        images = self.generate(z.repeat(self.num_groups, 1), groups)
        repeat = (self.num_groups, 1, 1, 1)
        scores = self.identity_objective(images, crops.to(self.device).repeat(repeat),
                                         None if landmarks is None else landmarks.repeat(self.num_groups, 1, 1),
                                         identity)
        return scores.view(self.num_groups, count).argmin(dim=0)

    def age(
        self,
        crops: Tensor,
        target_age: float | Sequence[float] | Tensor,
        landmarks: Tensor | None = None,
        *,
        source_age: float | Sequence[float] | Tensor | None = None,
        steps: int = 50,
        lr: float = 0.05,
        identity: IdentityLoss | str | os.PathLike[str] | None = None,
    ) -> Tensor:
        """``crops (B, 3, S, S)`` at ``target_age`` years (one or one per face): E, the identity
        optimisation at the input's group (``source_age``, else :meth:`estimate_group`), G at the
        target group. Returns ``(B, 3, S, S)`` in [-1, 1]."""
        with self._evaluating():
            crops, identity = crops.to(self.device).float(), self._identity(identity)
            count = crops.shape[0]
            with torch.no_grad():
                z = self.encode(crops)
            source = (self.estimate_group(crops, z, landmarks, identity) if source_age is None
                      else self.age_groups_of(source_age, count))
            z = self._refine(crops, z, source, landmarks, steps, lr, identity, shared=False)
            with torch.no_grad():
                return self.generate(z, self.age_groups_of(target_age, count))

    def age_video(
        self,
        crops: Tensor,
        target_age: float,
        landmarks: Tensor | None = None,
        *,
        source_age: float | None = None,
        steps: int = 50,
        lr: float = 0.05,
        temporal_sigma: float = 2.0,
        identity: IdentityLoss | str | os.PathLike[str] | None = None,
    ) -> Tensor:
        """One face track ``crops (T, 3, S, S)`` (landmarks ``(T, 68, 2)``) at ``target_age``: the
        per-frame latents of E become the track's mean plus deviations smoothed over time by a
        Gaussian of ``temporal_sigma`` frames (0: unsmoothed); the identity optimisation fits one
        offset shared by every frame on up to :data:`KEY_FRAMES` frames spread over the track (at
        ``source_age``'s group, else the group most of them fit best); every frame is generated
        at the target group, :data:`VIDEO_CHUNK` frames at a time. ``(T, 3, S, S)``."""
        with self._evaluating():
            identity = self._identity(identity)
            count = crops.shape[0]
            with torch.no_grad():
                z = torch.cat([self.encode(chunk.float()) for chunk in crops.split(VIDEO_CHUNK)])
                mean = z.mean(dim=0, keepdim=True)
                z = mean + temporal_smoothing(z - mean, temporal_sigma)
            # the shared identity offset is fitted on key frames spread over the track (memory stays flat)
            keys = torch.linspace(0, count - 1, min(count, KEY_FRAMES)).round().long()
            key_crops = crops[keys].to(self.device).float()
            key_landmarks = None if landmarks is None else landmarks[keys]
            with torch.no_grad():
                if source_age is None:
                    votes = torch.bincount(self.estimate_group(key_crops, z[keys], key_landmarks, identity),
                                           minlength=self.num_groups)
                    source = votes.argmax().expand(len(keys))
                else:
                    source = self.age_groups_of(source_age, len(keys))
            refined = self._refine(key_crops, z[keys], source, key_landmarks, steps, lr, identity, shared=True)
            z = z + (refined[:1] - z[keys][:1])
            target = self.age_groups_of(target_age, count)
            with torch.no_grad():
                return torch.cat([self.generate(chunk, groups) for chunk, groups in
                                  zip(z.split(VIDEO_CHUNK), target.split(VIDEO_CHUNK))])

    # ---- internals ----

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode (batch-norm running statistics) for the block; the modes are restored after."""
        modes = {module: module.training for module in self.modules()}
        self.eval()
        try:
            yield
        finally:
            for module, mode in modes.items():
                module.training = mode

    def _identity(self, identity: IdentityLoss | str | os.PathLike[str] | None) -> IdentityLoss | None:
        """The identity network on the model's device (a path is loaded), or None with a warning
        that the fallback objective is in use."""
        if identity is None:
            warnings.warn(
                "Age-cGAN identity preservation: no identity network, using the pixel + landmark fallback "
                "(low-passed L1 plus L1 on eyes, nose and mouth). For the paper's objective pass identity= "
                "(identity_weights= in a pipeline config): a TorchScript face-embedding file, see vidgan.nn.identity",
                stacklevel=3,
            )
            return None
        loss = identity if isinstance(identity, IdentityLoss) else IdentityLoss(identity)
        return loss.to(self.device)

    def _refine(self, crops: Tensor, z: Tensor, groups: Tensor, landmarks: Tensor | None, steps: int, lr: float,
                identity: IdentityLoss | None, shared: bool) -> Tensor:
        """``z + delta`` after ``steps`` Adam steps on ``delta`` (one per face, or one for all
        when ``shared``) against :meth:`identity_objective` of ``G(z + delta, groups)``; the best
        delta seen is kept (per face, or for the sum over faces when ``shared``)."""
        if steps < 0 or lr <= 0:
            raise ValueError(f"steps must be >= 0 and lr > 0, got {steps} and {lr}")
        crops, z, groups = crops.to(self.device).float(), z.detach().to(self.device), groups.to(self.device)
        landmarks = None if landmarks is None else landmarks.to(self.device).float()
        delta = torch.zeros((1 if shared else z.shape[0], z.shape[1]), device=z.device, requires_grad=True)
        optimizer = torch.optim.Adam([delta], lr=lr)
        best, best_delta = torch.full((delta.shape[0],), math.inf, device=z.device), delta.detach().clone()
        for step in range(steps + 1):
            with torch.enable_grad():
                scores = self.identity_objective(self.generator(z + delta, groups), crops, landmarks, identity)
                scores = scores.sum(dim=0, keepdim=True) if shared else scores
                with torch.no_grad():
                    better = scores < best
                    best = torch.where(better, scores, best)
                    best_delta = torch.where(better[:, None], delta, best_delta)
                if step == steps:
                    break
                (delta.grad,) = torch.autograd.grad(scores.sum(), delta)
            optimizer.step()
        return z + best_delta
