"""Training recipe of vid2vid (:mod:`vidgan.models.vid2vid`): loss weights and schedules,
trainer, dataset binding and ``FAMILY``.

Trainer losses (weights in :class:`Vid2VidLosses`): GAN of each discriminator, feature matching
of each, VGG19 perceptual (when its weights are on disk), and against the reference flow: flow
L1 (where the reference flow warps the real previous frame onto the real frame), warp L1 (the
real previous frame warped by the predicted flow against the real frame) and the occlusion mask
(1 where that warp is right, 0 where not). The image and temporal discriminators judge the main
generator's frames; the face refiner works on them detached and is judged by the face
discriminator alone, as Everybody Dance Now trains its face GAN on top of the body generator.

Schedules (functions of the iteration, hence exact on resume): ``curriculum`` grows the clip
length, ``scales`` adds coarse-to-fine levels (batches are downsampled while fewer levels run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.data.paired_video import PairedVideoDataset, PairedVideoSettings
from vidgan.errors import ConfigError
from vidgan.keypoints.align import crop_faces
from vidgan.models.vid2vid import Vid2Vid
from vidgan.models.vid2vid_generator import FaceOutput
from vidgan.nn import GANLoss, feature_matching_loss, flow_warp, masked_l1, resize_flow
from vidgan.train.experiment import Family
from vidgan.train.trainer import Batch, GANTrainer

__all__ = [
    "FAMILY",
    "Vid2VidLosses",
    "Vid2VidTrainer",
    "flow_losses",
    "paired_dataset",
    "scheduled",
]

#: A warp is trusted where the summed |difference| over RGB in [-1, 1] is below this (imaginaire's).
WARP_TRUST = 0.5

Schedule = Sequence[tuple[int, int]]


@dataclass
class Vid2VidLosses:
    """Loss weights and training schedules (``losses:`` of a vid2vid config).

    ``curriculum``: ``[[iteration, clip_length], ...]`` from iteration 0, e.g. ``[[0, 4], [5000, 8]]``
    (null: the dataset's whole clips, ``data.clip_length``); ``scales``: ``[[iteration, levels],
    ...]`` coarse-to-fine levels that run (null: all from the start). ``vgg_weights``: the VGG19
    file or folder (default: torch's checkpoints folder); without it the perceptual term is off.
    """

    gan_mode: Literal["hinge", "lsgan", "nonsaturating"] = "hinge"
    image: float = 1.0
    temporal: float = 1.0
    face: float = 1.0
    feature_matching: float = 10.0
    perceptual: float = 10.0
    vgg_weights: str | None = None
    #: Pixel L1 to the real frames (pix2pix's term; 0 in vid2vid). The CPU presets use it: without
    #: VGG19 weights offline and with minutes of training, GAN + feature matching alone is too slow.
    reconstruction: float = 0.0
    flow: float = 10.0
    warp: float = 10.0
    mask: float = 10.0
    curriculum: list[tuple[int, int]] | None = None
    scales: list[tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        for name in ("curriculum", "scales"):
            schedule = getattr(self, name)
            if schedule is None:
                continue
            starts = [start for start, _ in schedule]
            if not schedule or starts[0] != 0 or starts != sorted(set(starts)) or min(v for _, v in schedule) < 1:
                raise ValueError(
                    f"losses.{name} must be [[0, value], [iteration, value], ...] with increasing "
                    f"iterations and values >= 1, got {schedule}"
                )


def scheduled(schedule: Schedule | None, iteration: int, default: int) -> int:
    """The value of a piecewise-constant ``[[start_iteration, value], ...]`` schedule at
    ``iteration`` (``default`` when the schedule is None)."""
    value = default
    for start, setting in schedule or ():
        if iteration >= start:
            value = setting
    return value


class _Clip(NamedTuple):
    """One micro-batch at this iteration's clip length and scale: ``frames (B, T, 3, H, W)``,
    ``maps (B, T, C, H, W)``, ``flow (B, T-1, 2, H, W)`` or None, ``boxes (B, T, 4)`` or None."""

    frames: Tensor
    maps: Tensor
    flow: Tensor | None
    boxes: Tensor | None
    scales: int


class Vid2VidTrainer(GANTrainer):
    """The vid2vid losses on :class:`~vidgan.train.GANTrainer` (module docstring)."""

    model: Vid2Vid
    losses: Vid2VidLosses

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gan = GANLoss(self.losses.gan_mode)
        if self.losses.perceptual > 0 and self.model.config["image_channels"] != 3:
            raise ConfigError("losses.perceptual needs image_channels=3 (VGG19 sees RGB); set it to 0")
        self.vgg = self.perceptual_loss(self.losses.vgg_weights) if self.losses.perceptual > 0 else None

    # ---- the hooks ------------------------------------------------------------------------

    def dis_losses(self, batch: Batch) -> dict[str, Tensor]:
        clip = self._clip(batch)
        generator, weights = self.model.generator, self.losses
        with torch.no_grad():
            fake = generator.unroll(clip.maps, scales=clip.scales).frames
            faces = self._refine_faces(generator, fake, clip)
        maps = clip.maps.flatten(0, 1)
        real_image = self.real_scores(self._image_d, clip.frames.flatten(0, 1), maps)
        fake_image = self._image_d(fake.flatten(0, 1), maps)
        terms = {"image": weights.image * (self.gan(real_image, True, True) + self.gan(fake_image, False, True))}
        for name, window, condition in self._temporal_windows(clip):
            discriminator = self._temporal_d(name)
            real = self.real_scores(discriminator, _take(clip.frames, window), condition)
            fake_scores = discriminator(_take(fake, window), condition)
            terms[name] = weights.temporal * (self.gan(real, True, True) + self.gan(fake_scores, False, True))
        if faces is not None:
            terms["face"] = self._face_d_loss(clip, faces)
        return terms

    def gen_losses(self, batch: Batch) -> dict[str, Tensor]:
        clip = self._clip(batch)
        generator, weights = self.model.generator, self.losses
        rollout = generator.unroll(clip.maps, scales=clip.scales)
        fake, real, maps = rollout.frames, clip.frames, clip.maps.flatten(0, 1)
        fake_image = self._image_d(fake.flatten(0, 1), maps)
        with torch.no_grad():
            real_image = self._image_d(real.flatten(0, 1), maps)
        terms = {"image": weights.image * self.gan(fake_image, True, False)}
        matching = [feature_matching_loss(fake_image, real_image)]
        for name, window, condition in self._temporal_windows(clip):
            discriminator = self._temporal_d(name)
            fake_scores = discriminator(_take(fake, window), condition)
            with torch.no_grad():
                real_scores = discriminator(_take(real, window), condition)
            terms[name] = weights.temporal * self.gan(fake_scores, True, False)
            matching.append(feature_matching_loss(fake_scores, real_scores))
        if self.vgg is not None:
            terms["perceptual"] = weights.perceptual * self.vgg(fake, real)
        if weights.reconstruction > 0:
            terms["reconstruction"] = weights.reconstruction * F.l1_loss(fake.float(), real.float())
        faces = self._refine_faces(generator, fake.detach(), clip)
        if faces is not None:
            terms.update(self._face_g_losses(clip, faces, matching))
        terms["feature_matching"] = weights.feature_matching * torch.stack(matching).sum()
        if clip.flow is not None and rollout.flows.shape[1]:
            terms.update(flow_losses(real, clip.flow, rollout.flows, rollout.masks, weights))
        return terms

    def preview(self, generator: nn.Module, batch: Batch) -> Tensor:
        """Up to two clips ``(B, T, 3, H, 3W)``: maps | generated | real."""
        clip = self._clip(batch)
        count = min(2, clip.maps.shape[0])
        boxes = None if clip.boxes is None else clip.boxes[:count]
        frames, _ = generator.generate(clip.maps[:count], face_boxes=boxes, scales=clip.scales)
        maps = clip.maps[:count]
        rgb = maps.shape[2] >= 3 and frames.shape[2] == 3
        shown = maps[:, :, :3] if rgb else maps.mean(2, keepdim=True).expand_as(frames)
        return torch.cat([shown * 2 - 1, frames, clip.frames[:count]], dim=-1)

    # ---- losses ---------------------------------------------------------------------------

    def _face_d_loss(self, clip: _Clip, faces: FaceOutput) -> Tensor:
        valid = faces.valid
        if not valid.any():
            return clip.frames.new_zeros(())
        real = self.real_scores(self._face_d, self._real_faces(clip, faces)[valid], faces.map_crops[valid])
        fake = self._face_d(faces.crops[valid], faces.map_crops[valid])
        return self.losses.face * (self.gan(real, True, True) + self.gan(fake, False, True))

    def _face_g_losses(self, clip: _Clip, faces: FaceOutput, matching: list[Tensor]) -> dict[str, Tensor]:
        """``face`` (GAN) and ``face_perceptual`` terms; appends the face D's feature matching."""
        valid = faces.valid
        zero = clip.frames.new_zeros(())
        terms = {"face": zero} if self.vgg is None else {"face": zero, "face_perceptual": zero}
        if not valid.any():
            return terms
        real_crops = self._real_faces(clip, faces)[valid]
        fake = self._face_d(faces.crops[valid], faces.map_crops[valid])
        with torch.no_grad():
            real = self._face_d(real_crops, faces.map_crops[valid])
        terms["face"] = self.losses.face * self.gan(fake, True, False)
        matching.append(feature_matching_loss(fake, real))
        if self.vgg is not None:
            terms["face_perceptual"] = self.losses.perceptual * self.vgg(faces.crops[valid], real_crops)
        return terms

    # ---- discriminator inputs -------------------------------------------------------------

    def _image_d(self, frames: Tensor, maps: Tensor) -> list:
        return self.model.discriminators["image"](torch.cat([maps, frames.to(maps.dtype)], dim=1))

    def _face_d(self, crops: Tensor, map_crops: Tensor) -> list:
        return self.model.discriminators["face"](torch.cat([map_crops, crops.to(map_crops.dtype)], dim=1))

    def _temporal_d(self, name: str) -> Callable[[Tensor, Tensor], list]:
        """D of ``frames (B, K, 3, H, W)`` with ``condition (B, K, 2, H, W)``."""
        discriminator = self.model.discriminators[name]
        return lambda frames, condition: discriminator(
            torch.cat([frames, condition.to(frames.dtype)], dim=2).transpose(1, 2)
        )

    def _temporal_windows(self, clip: _Clip) -> list[tuple[str, Tensor, Tensor]]:
        """``(name, frame indices (B, K), flow condition (B, K, 2, H, W))`` of every temporal D
        whose window (K frames every K**i) fits the clip: one random window per sample."""
        frames, length = self.model.config["temporal_frames"], clip.frames.shape[1]
        windows = []
        for i in range(self.model.config["temporal_scales"]):
            rate = frames**i
            span = (frames - 1) * rate + 1
            if span > length:
                break
            starts = self.randint(length - span + 1).to(clip.frames.device)
            window = starts[:, None] + rate * torch.arange(frames, device=starts.device)
            windows.append((f"temporal_{i}", window, _flow_condition(clip, window, rate)))
        return windows

    # ---- batches --------------------------------------------------------------------------

    def _clip(self, batch: Batch) -> _Clip:
        """The batch cut to this iteration's clip length and downsampled to its scale."""
        available = batch["frames"].shape[1]
        length = scheduled(self.losses.curriculum, self.iteration, available)
        if length > available:
            raise ConfigError(f"losses.curriculum asks for {length} frames at iteration {self.iteration}; "
                              f"data.clip_length is {available}")
        n_scales = self.model.config["n_scales"]
        scales = scheduled(self.losses.scales, self.iteration, n_scales)
        if scales > n_scales:
            raise ConfigError(f"losses.scales asks for {scales} levels; the model has n_scales={n_scales}")
        frames, maps = batch["frames"][:, :length], batch["maps"][:, :length]
        flow = batch["flow"][:, : length - 1] if "flow" in batch else None
        boxes = batch["face_box"][:, :length] if "face_box" in batch else None
        if boxes is None and self.model.generator.face is not None:
            raise ConfigError("model.face_refine needs batches with face boxes (write_paired_dataset(face_boxes=...))")
        factor = 2 ** (n_scales - scales)
        if factor > 1:
            frames, maps = _shrink(frames, factor), _shrink(maps, factor)
            if flow is not None:
                flow = resize_flow(flow.flatten(0, 1), frames.shape[-2:]).unflatten(0, flow.shape[:2])
            boxes = None if boxes is None else (boxes + 0.5) / factor - 0.5
        return _Clip(frames, maps, flow, boxes, scales)

    def _refine_faces(self, generator: nn.Module, fake: Tensor, clip: _Clip) -> FaceOutput | None:
        if generator.face is None:
            return None
        return generator.face(fake.flatten(0, 1), clip.maps.flatten(0, 1), clip.boxes.flatten(0, 1))

    def _real_faces(self, clip: _Clip, faces: FaceOutput) -> Tensor:
        with torch.autocast(clip.frames.device.type, enabled=False):
            return crop_faces(clip.frames.flatten(0, 1).float(), faces.transforms, faces.crops.shape[-1])


def flow_losses(
    real: Tensor, reference: Tensor, flows: Tensor, masks: Tensor, weights: Vid2VidLosses
) -> dict[str, Tensor]:
    """Weighted ``flow``, ``warp`` and ``mask`` terms of real frames ``(B, T, 3, H, W)``, their
    reference flow ``(B, T-1, 2, H, W)``, and the generator's flows ``(B, T-1, 2, H, W)`` and
    occlusion masks ``(B, T-1, 1, H, W)`` of frames 1..T-1 (module docstring)."""
    previous, current = real[:, :-1].flatten(0, 1), real[:, 1:].flatten(0, 1)
    flows, reference, masks = flows.flatten(0, 1), reference.flatten(0, 1), masks.flatten(0, 1)
    trusted = _warp_error(flow_warp(previous, reference), current) < WARP_TRUST
    warped = flow_warp(previous, flows)
    right = (_warp_error(warped.detach(), current) < WARP_TRUST).float()
    return {
        "flow": weights.flow * masked_l1(flows, reference, trusted),
        "warp": weights.warp * F.l1_loss(warped.float(), current.float()),
        "mask": weights.mask * (masked_l1(masks, torch.ones_like(masks), right)
                                + masked_l1(masks, torch.zeros_like(masks), 1 - right)),
    }


def _take(frames: Tensor, window: Tensor) -> Tensor:
    """``frames (B, T, ...)`` at ``window (B, K)`` indices -> ``(B, K, ...)``."""
    return frames[torch.arange(frames.shape[0], device=frames.device)[:, None], window]


def _flow_condition(clip: _Clip, window: Tensor, rate: int) -> Tensor:
    """Reference flow of each window frame to the one before it (``rate`` frames back, composed
    from the per-frame flows), zero for the first, in [-1, 1] image units: ``(B, K, 2, H, W)``."""
    batch, frames = window.shape
    height, width = clip.frames.shape[-2:]
    condition = clip.frames.new_zeros(batch, frames, 2, height, width)
    if clip.flow is None:
        return condition
    composed = None  # flow of frame window[k] back to window[k] - m - 1 for k >= 1
    for m in range(rate):
        step = _take(clip.flow, window[:, 1:] - 1 - m).flatten(0, 1)  # flow of frame j+1 to j
        composed = step if composed is None else composed + flow_warp(step, composed)
    scale = composed.new_tensor([2 / width, 2 / height]).view(1, 2, 1, 1)
    condition[:, 1:] = (composed * scale).view(batch, frames - 1, 2, height, width)
    return condition


def _shrink(clip: Tensor, factor: int) -> Tensor:
    """Average-pool ``(B, T, C, H, W)`` by ``factor`` in H and W."""
    return F.avg_pool2d(clip.flatten(0, 1), factor).unflatten(0, clip.shape[:2])


def _warp_error(warped: Tensor, target: Tensor) -> Tensor:
    """Summed absolute difference over channels: (N, C, H, W) -> (N, 1, H, W)."""
    return (warped.float() - target.float()).abs().sum(dim=1, keepdim=True)


def paired_dataset(settings: PairedVideoSettings, model: Vid2Vid) -> tuple[PairedVideoDataset, None]:
    """The family's dataset: the paired sequences of ``settings.folder``, with face boxes when
    the model refines faces."""
    if not settings.folder:
        raise ConfigError("data.folder: give the folder written by vidgan.data.paired_video.write_paired_dataset")
    dataset = PairedVideoDataset.from_folder(
        settings.folder, clip_length=settings.clip_length, size=settings.size, stride=settings.stride,
        flow=settings.flow, flow_weights=settings.flow_weights, with_face_boxes=model.config["face_refine"],
    )
    if dataset.map_channels != model.config["map_channels"]:
        raise ConfigError(f"data.folder has {dataset.map_channels}-channel maps; model.map_channels is "
                          f"{model.config['map_channels']}")
    return dataset, None


FAMILY = Family(
    name="vid2vid", model=Vid2Vid, trainer=Vid2VidTrainer, data=PairedVideoSettings, losses=Vid2VidLosses,
    dataset=paired_dataset,
)
