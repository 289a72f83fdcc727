"""Training recipe of PG2 (:mod:`vidgan.models.pose_guided`): loss weights and stage schedule,
trainer, dataset binding and ``FAMILY``, and the evaluation of a trained model on held-out pairs
(:func:`evaluate_pairs`).

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
from typing import Literal

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from vidgan.data.pose_pairs import PosePairDataset, PosePairSettings, pose_pair_dataset
from vidgan.keypoints import COCO17, render_skeleton
from vidgan.keypoints.extract import FrameKeypointer
from vidgan.keypoints import convert_points
from vidgan.models.pose_guided import PoseGuidedGenerator
from vidgan.nn import DiscriminatorOutput, GANLoss, masked_l1
from vidgan.train.experiment import Family
from vidgan.train.trainer import Batch, GANTrainer
from vidgan.nn.images import to_uint8

__all__ = [
    "FAMILY",
    "PoseGuidedLosses",
    "PoseGuidedTrainer",
    "evaluate_pairs",
    "lpips_or_none",
    "pair_dataset",
]


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
        self.gan = GANLoss(self.losses.gan_mode)
        self.vgg = self.perceptual_loss(self.losses.vgg_weights) if self.losses.perceptual > 0 else None

    @property
    def stage(self) -> int:
        """1 while ``iteration < losses.stage1_iterations``, then 2."""
        return 1 if self.iteration < self.losses.stage1_iterations else 2

    def trained_networks(self, which: str) -> list[nn.Module]:
        """Stage I: the coarse generator alone (the discriminator rests); stage II: the refining
        generator (and stage I when ``finetune_coarse``) and the discriminator."""
        generator = self.model.generator
        if which == "d":
            return [] if self.stage == 1 else [self.model.discriminators]
        if self.stage == 1:
            return [generator.coarse]
        return [generator.refine, generator.coarse] if self.losses.finetune_coarse else [generator.refine]

    def dis_losses(self, batch: Batch) -> dict[str, Tensor]:
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
        """The refined image ``(B, 3, H, W)`` as stage II trains: from stage I's image (resting
        unless ``finetune_coarse``: :meth:`trained_networks`) with ``coarse_noise`` added."""
        generator = self.model.generator
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
            found = _extract_poses(keypointer, to_uint8(fake), upscale)
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
