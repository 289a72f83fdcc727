"""PG2: pose-guided person image generation (Ma et al. 2017, "Pose Guided Person Image Generation").

Model (:class:`PoseGuidedGenerator`): ``generator`` (:class:`PG2Generator`) holds both stages,
each a :class:`vidgan.nn.UNet`:

- stage I, ``coarse``: (condition image, Gaussian heatmaps of the target pose) -> a coarse image;
- stage II, ``refine``: (condition image, coarse image) -> a difference map; the refined image is
  coarse + difference. Its last layer starts at 1 % of its initial scale, so stage II begins at
  stage I's result;

and ``discriminators["pair"]``, a PatchGAN on (condition image, image) pairs. Heatmaps come from
:func:`vidgan.keypoints.render_heatmaps`, the pose mask from :func:`pose_mask` (limbs drawn
thick, torso diagonals, dilation), both from the keypoints of the model's body layout.

Trainer (:class:`PoseGuidedTrainer`, weights in :class:`PoseGuidedLosses`), as the paper trains
the stages one after the other, by iteration (so resume is exact):

- iterations ``< stage1_iterations``: stage I alone with the pose-mask L1
  ``|coarse - target| * (1 + mask)`` (normalised by the weights); the discriminator rests;
- then stage II: the refined image against the target with the pose-mask L1 and the GAN loss of
  the pair discriminator (real pair: condition + target; fake: condition + refined); stage I is
  frozen (``finetune_coarse: true`` trains it on together). ``coarse_noise`` adds Gaussian noise
  to stage I's image where stage II takes it in (conditioning augmentation);
- ``flip`` mirrors half of the pairs of either stage (random draws from the trainer's seeded noise).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.data.pose_pairs import (
    PosePairDataset,
    PosePairSettings,
    convert_points,
    pose_pair_dataset,
)
from vidgan.errors import ConfigError
from vidgan.keypoints import (
    COCO17,
    Keypoints,
    Skeleton,
    get_skeleton,
    render_heatmaps,
    render_skeleton,
)
from vidgan.keypoints.extract import FrameKeypointer
from vidgan.models.base import GANModel
from vidgan.nn import DiscriminatorOutput, GANLoss, PatchDiscriminator, UNet, masked_l1
from vidgan.train.experiment import Family
from vidgan.train.trainer import Batch, GANTrainer

__all__ = [
    "FAMILY",
    "PG2Generator",
    "PG2Output",
    "PoseGuidedGenerator",
    "PoseGuidedLosses",
    "PoseGuidedTrainer",
    "evaluate_pairs",
    "lpips_or_none",
    "mask_skeleton",
    "pose_mask",
]

#: Scale of the refiner's last layer at initialisation (near-zero difference: stage II starts at stage I).
REFINE_INIT_SCALE = 0.01


def mask_skeleton(skeleton: Skeleton) -> Skeleton:
    """``skeleton`` with the torso diagonals added (their strokes fill the torso) and no colours."""
    diagonals = ((skeleton.index("left_shoulder"), skeleton.index("right_hip")),
                 (skeleton.index("right_shoulder"), skeleton.index("left_hip")))
    return Skeleton(f"{skeleton.name}_mask", skeleton.joints, skeleton.edges + diagonals)


def pose_mask(points: Tensor, skeleton: Skeleton, size: tuple[int, int], thickness: float = 8.0,
              dilation: int = 4) -> Tensor:
    """PG2's pose mask ``(B, 1, H, W)`` in {0, 1} of body ``points (B, K, 3)`` (pixels; confidence
    0: missing): limbs, torso diagonals and joints drawn ``thickness`` pixels wide, then dilated
    by ``dilation`` pixels (a square of side ``2 * dilation + 1``). Runs on the points' device."""
    strokes = render_skeleton(points, mask_skeleton(skeleton), size, thickness=thickness, joint_radius=thickness / 2)
    mask = (strokes[:, :1] > 0).float()
    return F.max_pool2d(mask, 2 * dilation + 1, 1, dilation) if dilation > 0 else mask


class PG2Output(NamedTuple):
    """Both stages' images ``(B, 3, H, W)`` in [-1, 1] (``refined`` may overshoot; None when only
    stage I ran)."""

    coarse: Tensor
    refined: Tensor | None


class PG2Generator(nn.Module):
    """Stage I ``coarse`` U-Net (image + pose maps -> image) and stage II ``refine`` U-Net
    (image + coarse -> difference map); see the module docstring."""

    def __init__(self, pose_channels: int, channels: tuple[int, ...], refine_channels: tuple[int, ...],
                 norm: str = "instance") -> None:
        super().__init__()
        self.coarse = UNet(3 + pose_channels, 3, tuple(channels), norm)
        self.refine = UNet(6, 3, tuple(refine_channels), norm, tanh=False)
        with torch.no_grad():
            self.refine.head.weight.mul_(REFINE_INIT_SCALE)
            self.refine.head.bias.zero_()

    def forward(self, condition: Tensor, pose: Tensor, stage: int = 2) -> PG2Output:
        """``condition (B, 3, H, W)`` in [-1, 1] and ``pose (B, K, H, W)`` heatmaps in [0, 1] ->
        :class:`PG2Output`; ``stage=1`` runs stage I only."""
        coarse = self.coarse(torch.cat([condition, pose.to(condition.dtype)], dim=1))
        if stage == 1:
            return PG2Output(coarse, None)
        return PG2Output(coarse, self.refined(condition, coarse))

    def refined(self, condition: Tensor, coarse: Tensor) -> Tensor:
        """Stage II: ``coarse + refine(condition, coarse)``, ``(B, 3, H, W)``."""
        return coarse + self.refine(torch.cat([condition, coarse], dim=1))


class PoseGuidedGenerator(GANModel):
    """PG2 (module docstring) for images of ``size = (H, W)`` (multiples of ``2 ** len(channels)``
    and ``2 ** len(refine_channels)``) and body keypoints in the ``skeleton`` layout (coco17 or
    openpose18). ``channels`` / ``refine_channels``: U-Net widths of stages I / II; ``norm``:
    their normalisation; ``d_channels``, ``d_layers``: the pair PatchGAN. ``heatmap_sigma``,
    ``mask_thickness``, ``mask_dilation``: pose heatmaps and mask, in pixels.

    ``model(image, poses)`` generates one frame per pose (see :meth:`forward`)."""

    def __init__(
        self,
        size: tuple[int, int] = (128, 64),
        skeleton: str = "coco17",
        channels: tuple[int, ...] = (32, 64, 128, 256, 256),
        refine_channels: tuple[int, ...] = (32, 64, 128, 256),
        norm: str = "instance",
        d_channels: int = 32,
        d_layers: int = 3,
        heatmap_sigma: float = 2.0,
        mask_thickness: float = 8.0,
        mask_dilation: int = 4,
    ) -> None:
        super().__init__()
        layout = get_skeleton(skeleton)
        if layout.name not in ("coco17", "openpose18"):
            raise ValueError(f"skeleton must be a body layout (coco17 or openpose18), got {skeleton!r}")
        multiple = 2 ** max(len(channels), len(refine_channels))
        if size[0] % multiple or size[1] % multiple:
            raise ValueError(f"size {tuple(size)} must be multiples of {multiple} (the U-Nets' depth)")
        self.generator = PG2Generator(layout.num_joints, channels, refine_channels, norm)
        self.discriminators = nn.ModuleDict({"pair": PatchDiscriminator(6, d_channels, d_layers, norm)})

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the images the model takes and makes."""
        height, width = self.config["size"]
        return int(height), int(width)

    @property
    def skeleton(self) -> Skeleton:
        return get_skeleton(self.config["skeleton"])

    def pose_maps(self, points: Tensor) -> Tensor:
        """Heatmaps ``(B, K, H, W)`` in [0, 1] of ``points (B, K, 3)`` (the generator's pose input)."""
        return render_heatmaps(points, self.size, self.config["heatmap_sigma"])

    def mask(self, points: Tensor) -> Tensor:
        """The pose mask ``(B, 1, H, W)`` of ``points (B, K, 3)`` (:func:`pose_mask`)."""
        return pose_mask(points, self.skeleton, self.size, self.config["mask_thickness"], self.config["mask_dilation"])

    def generate(self, condition: Tensor, points: Tensor, stage: int = 2) -> PG2Output:
        """``condition (B, 3, H, W)`` in [-1, 1] in the pose ``points (B, K, 3)`` (pixels of the
        ``(H, W)`` images, confidence 0: missing) -> :class:`PG2Output`."""
        return self.generator(condition, self.pose_maps(points), stage)

    @torch.no_grad()
    def forward(self, image: np.ndarray | Tensor, poses: Keypoints | np.ndarray, *, stage: int = 2,
                batch: int = 16) -> np.ndarray:
        """The person of ``image`` in each pose of ``poses``: RGB uint8 frames ``(T, H, W, 3)`` at
        :attr:`size`.

        ``image``: RGB uint8 ``(h, w, 3)`` or float ``(3, h, w)`` in [-1, 1], best at the model's
        aspect (it is resized to :attr:`size`); ``poses``: a track or ``(T, K, 3)`` x, y,
        confidence in ``image``'s pixels (NaN or confidence 0: missing), in the model's layout (a
        track in the other body layout is converted). ``stage=1``: the coarse images."""
        device = next(self.parameters()).device
        condition = _image_tensor(image, self.size).to(device)
        height, width = image.shape[:2] if isinstance(image, np.ndarray) else image.shape[-2:]
        scale = np.array([self.size[1] / width, self.size[0] / height], np.float32)
        points = _pose_array(poses, self.skeleton)
        points[..., :2] = (points[..., :2] + 0.5) * scale - 0.5
        frames = []
        for start in range(0, len(points), batch):
            chunk = torch.from_numpy(points[start : start + batch]).to(device)
            output = self.generate(condition.expand(len(chunk), -1, -1, -1), chunk, stage)
            frames.append(_to_uint8(output.coarse if stage == 1 else output.refined))
        return np.concatenate(frames) if frames else np.zeros((0, *self.size, 3), np.uint8)


def _image_tensor(image: np.ndarray | Tensor, size: tuple[int, int]) -> Tensor:
    """RGB uint8 ``(h, w, 3)`` or float ``(3, h, w)`` in [-1, 1] -> ``(1, 3, H, W)`` in [-1, 1]."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
        if image.shape[:2] != size:
            image = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA)
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1
    if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
        raise ValueError(f"image tensors must be float (3, H, W) in [-1, 1], got {tuple(image.shape)}")
    tensor = image[None].float()
    return F.interpolate(tensor, size=size, mode="area") if tuple(tensor.shape[-2:]) != size else tensor


def _pose_array(poses: Keypoints | np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """``(T, K, 3)`` float32 in ``skeleton``'s layout with missing points as ``(0, 0, 0)``."""
    if isinstance(poses, Keypoints):
        points = convert_points(poses.points, poses.skeleton, skeleton)
    else:
        points = np.asarray(poses, np.float32)
    if points.ndim != 3 or points.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"poses must be (T, {skeleton.num_joints}, 3) for {skeleton.name}, got {points.shape}")
    visible = (points[..., 2:] > 0) & np.isfinite(points[..., :2]).all(axis=-1, keepdims=True)
    return np.where(visible, np.nan_to_num(points), 0.0).astype(np.float32)


def _to_uint8(images: Tensor) -> np.ndarray:
    """``(B, 3, H, W)`` in [-1, 1] -> RGB uint8 ``(B, H, W, 3)``."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


# ---- training -----------------------------------------------------------------------------


@dataclass
class PoseGuidedLosses:
    """Loss weights and the stage schedule (``losses:`` of a pose-guided config).

    ``stage1_iterations``: iterations of stage I before stage II starts; ``finetune_coarse``:
    train stage I on during stage II (the paper keeps it fixed). ``coarse_noise``: standard
    deviation of Gaussian noise added to stage I's image where stage II takes it in training
    (conditioning augmentation, as cascaded generators do): on its training pairs stage I is
    nearly right, on new poses it is not, and stage II learns to repair the latter too.
    ``flip``: mirror half of the pairs (both images and their keypoints, left and right joints
    swapped), drawn per sample from the trainer's seeded noise.
    ``perceptual``: VGG19 weight of stage II (0: off; on only when ``vgg_weights`` or torch's
    checkpoints folder hold VGG19).
    """

    gan_mode: Literal["hinge", "lsgan", "nonsaturating"] = "nonsaturating"
    gan: float = 1.0
    pose_l1: float = 100.0
    perceptual: float = 0.0
    vgg_weights: str | None = None
    stage1_iterations: int = 1000
    finetune_coarse: bool = False
    coarse_noise: float = 0.0
    flip: bool = False

    def __post_init__(self) -> None:
        if self.stage1_iterations < 0 or self.coarse_noise < 0:
            raise ValueError(f"losses.stage1_iterations and losses.coarse_noise must be >= 0, got "
                             f"{self.stage1_iterations} and {self.coarse_noise}")


class PoseGuidedTrainer(GANTrainer):
    """The PG2 losses and stage schedule on :class:`~vidgan.train.GANTrainer` (module docstring)."""

    model: PoseGuidedGenerator
    losses: PoseGuidedLosses

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.scaler_d.is_enabled() and self.losses.stage1_iterations > 0:
            raise ConfigError("train.amp=fp16 cannot rest the discriminator during stage I; use bf16 or fp32")
        self.gan = GANLoss(self.losses.gan_mode)
        self.vgg = self.perceptual_loss(self.losses.vgg_weights) if self.losses.perceptual > 0 else None

    @property
    def stage(self) -> int:
        """1 while ``iteration < losses.stage1_iterations``, then 2."""
        return 1 if self.iteration < self.losses.stage1_iterations else 2

    def dis_losses(self, batch: Batch) -> dict[str, Tensor]:
        if self.stage == 1:  # a leaf: the discriminator gets no gradient, so Adam leaves it untouched
            return {"pair": torch.zeros((), device=self.device, requires_grad=True)}
        batch = self._flipped(batch)
        with torch.no_grad():
            refined = self._stage_two(batch["condition"], self.model.pose_maps(batch["target_points"]))
        real = self.real_scores(self._pair_d, batch["target"], batch["condition"])
        fake = self._pair_d(refined, batch["condition"])
        return {"pair": self.losses.gan * (self.gan(real, True, True) + self.gan(fake, False, True))}

    def gen_losses(self, batch: Batch) -> dict[str, Tensor]:
        model, weights = self.model, self.losses
        batch = self._flipped(batch)
        condition, target, points = batch["condition"], batch["target"], batch["target_points"]
        weight = 1 + model.mask(points)
        pose = model.pose_maps(points)
        if self.stage == 1:
            coarse = model.generator(condition, pose, stage=1).coarse
            return {"pose_l1": weights.pose_l1 * masked_l1(coarse, target, weight)}
        refined = self._stage_two(condition, pose)
        terms = {"gan": weights.gan * self.gan(self._pair_d(refined, condition), True, False),
                 "pose_l1": weights.pose_l1 * masked_l1(refined, target, weight)}
        if self.vgg is not None:
            terms["perceptual"] = weights.perceptual * self.vgg(refined, target)
        return terms

    def preview(self, generator: nn.Module, batch: Batch) -> Tensor:
        """Up to four rows ``(B, 3, H, 5W)``: condition | target pose | stage I | stage II | target."""
        count = min(4, batch["condition"].shape[0])
        condition, points = batch["condition"][:count], batch["target_points"][:count]
        output = generator(condition, self.model.pose_maps(points))
        pose = render_skeleton(points, self.model.skeleton, self.model.size) * 2 - 1
        return torch.cat([condition, pose, output.coarse, output.refined.clamp(-1, 1), batch["target"][:count]], dim=-1)

    def _flipped(self, batch: Batch) -> Batch:
        """``batch`` with half of its pairs mirrored when ``losses.flip`` (module docstring)."""
        if not self.losses.flip:
            return batch
        chosen = self.randint(2).bool()
        width = self.model.size[1]
        order = list(range(self.model.skeleton.num_joints))
        for left, right in self.model.skeleton.flip_pairs:
            order[left], order[right] = right, left
        flipped = dict(batch)
        for key in ("condition", "target"):
            flipped[key] = torch.where(chosen[:, None, None, None], batch[key].flip(-1), batch[key])
        for key in ("condition_points", "target_points"):
            points = batch[key]
            mirrored = points[:, order].clone()
            mirrored[..., 0] = torch.where(mirrored[..., 2] > 0, width - 1 - mirrored[..., 0], 0.0)
            flipped[key] = torch.where(chosen[:, None, None], mirrored, points)
        return flipped

    def _stage_two(self, condition: Tensor, pose: Tensor) -> Tensor:
        """The refined image ``(B, 3, H, W)`` as stage II trains: from stage I's image (frozen
        unless ``finetune_coarse``) with ``coarse_noise`` added."""
        generator = self.model.generator
        with torch.set_grad_enabled(self.losses.finetune_coarse and torch.is_grad_enabled()):
            coarse = generator(condition, pose, stage=1).coarse
        if self.losses.coarse_noise > 0:
            coarse = coarse + self.losses.coarse_noise * self.noise(*coarse.shape[1:]).to(coarse.dtype)
        return generator.refined(condition, coarse)

    def _pair_d(self, image: Tensor, condition: Tensor) -> DiscriminatorOutput:
        return self.model.discriminators["pair"](torch.cat([condition, image.to(condition.dtype)], dim=1))


def pair_dataset(settings: PosePairSettings, model: PoseGuidedGenerator) -> tuple[PosePairDataset, None]:
    """The family's dataset: ``settings`` at the model's size and body layout."""
    return pose_pair_dataset(settings, model.size, model.skeleton), None


FAMILY = Family(
    name="pose_guided", model=PoseGuidedGenerator, trainer=PoseGuidedTrainer, data=PosePairSettings,
    losses=PoseGuidedLosses, dataset=pair_dataset,
)


# ---- evaluation ---------------------------------------------------------------------------


@torch.no_grad()
def evaluate_pairs(
    model: PoseGuidedGenerator,
    dataset: PosePairDataset,
    indices: np.ndarray | None = None,
    *,
    lpips: nn.Module | None = None,
    keypointer: FrameKeypointer | None = None,
    batch: int = 16,
    upscale: int = 4,
) -> dict[str, dict[str, float]]:
    """Scores of the ``identity`` baseline (the condition image returned), ``stage1`` and
    ``stage2`` on the pairs ``indices`` of ``dataset`` (default: all), each against the target:
    ``ssim``, ``mask_ssim`` (SSIM of both images blacked out off the target's pose mask, as PG2
    measures it), ``lpips`` when an :class:`~vidgan.metrics.LPIPS` is given, and ``pck@0.2`` of
    body poses re-extracted by ``keypointer`` (on images ``upscale`` times larger) against the
    target's keypoints, when one is given (then also a ``real`` row: the targets themselves)."""
    from vidgan.metrics import pck, ssim_frames

    device = next(model.parameters()).device
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    images: dict[str, list[Tensor]] = {"identity": [], "stage1": [], "stage2": [], "real": []}
    masks, points = [], []
    for start in range(0, len(indices), batch):
        items = [dataset[int(i)] for i in indices[start : start + batch]]
        condition = torch.stack([item["condition"] for item in items]).to(device)
        target_points = torch.stack([item["target_points"] for item in items]).to(device)
        output = model.generate(condition, target_points)
        for name, value in (("identity", condition), ("stage1", output.coarse), ("stage2", output.refined),
                            ("real", torch.stack([item["target"] for item in items]).to(device))):
            images[name].append(value.float().clamp(-1, 1).cpu())
        masks.append(model.mask(target_points).bool().cpu())
        points.append(target_points.cpu())
    real, mask, target_points = torch.cat(images.pop("real")), torch.cat(masks), torch.cat(points).numpy()
    rows = {name: torch.cat(parts) for name, parts in images.items()}
    if keypointer is not None:
        rows["real"] = real
    scores = {}
    for name, fake in rows.items():
        row = {"ssim": float(ssim_frames(real, fake).mean()),
               "mask_ssim": float(ssim_frames(torch.where(mask, real, -1.0), torch.where(mask, fake, -1.0)).mean())}
        if lpips is not None:
            row["lpips"] = float(lpips(real, fake).mean())
        if keypointer is not None:
            found = _extract_poses(keypointer, _to_uint8(fake), upscale)
            row["pck@0.2"] = pck(found, convert_points(target_points, model.skeleton, COCO17), alpha=0.2)
        scores[name] = row
    return scores


def _extract_poses(keypointer: FrameKeypointer, frames: np.ndarray, upscale: int) -> np.ndarray:
    """COCO-17 points ``(T, 17, 3)`` of the main person of each frame (NaN: none found), found on
    frames enlarged ``upscale`` times (body detectors miss small people) and mapped back."""
    found = np.full((len(frames), COCO17.num_joints, 3), np.nan, np.float32)
    found[..., 2] = 0
    for t, frame in enumerate(frames):
        large = cv2.resize(frame, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        people, _ = keypointer(large)
        if len(people):
            found[t] = people[0]
            found[t, :, :2] = (people[0][:, :2] + 0.5) / upscale - 0.5
    return found


def lpips_or_none(weights: str | os.PathLike[str] | None = None) -> nn.Module | None:
    """:class:`~vidgan.metrics.LPIPS` (AlexNet) when its weights are on local disk, else None."""
    from vidgan.errors import MissingWeightsError
    from vidgan.metrics import LPIPS

    try:
        return LPIPS("alex", weights)
    except MissingWeightsError:
        return None
