"""Training recipe of the reference-warp generator (:mod:`vidgan.models.ref_warp`).

Regression first, adversarial later: L1 and SSIM (kornia) to the real frame from the start,
so that minutes of CPU training already give a usable model; from ``adversarial_from`` on, the
PatchGAN's hinge loss and its feature matching sharpen what the network draws. VGG19 perceptual
loss joins when its weights are on local disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from kornia.losses import ssim_loss
from torch import Tensor, nn

from vidgan.data.reference_frames import ReferenceFrames, ReferencePairsDataset, ReferenceSettings
from vidgan.errors import ConfigError
from vidgan.models.ref_warp import RefWarp
from vidgan.nn import GANLoss, feature_matching_loss
from vidgan.train.experiment import Family
from vidgan.train.trainer import Batch, GANTrainer


@dataclass
class RefWarpLosses:
    """Loss weights (``losses:`` of a reference-warp config). ``adversarial_from``: the
    iteration the GAN and feature-matching terms start (the discriminator trains from 0)."""

    l1: float = 1.0
    ssim: float = 1.0
    #: L1 of the drawn image alone against the real frame where no reference can show the pixel
    #: (an opening mouth, outside every reference): what must be drawn is learnt directly and is
    #: not noise, while where references cover the network keeps choosing their sharp pixels.
    drawn: float = 0.0
    gan_mode: Literal["hinge", "lsgan", "nonsaturating"] = "hinge"
    adversarial: float = 0.05
    feature_matching: float = 1.0
    adversarial_from: int = 300
    perceptual: float = 0.0
    vgg_weights: str | None = None

    def __post_init__(self) -> None:
        for key in ("l1", "ssim", "drawn", "adversarial", "feature_matching", "perceptual", "adversarial_from"):
            if getattr(self, key) < 0:
                raise ConfigError(f"losses.{key} must be >= 0, got {getattr(self, key)}")


class RefWarpTrainer(GANTrainer):
    """The losses of :class:`RefWarpLosses` on :class:`~vidgan.train.GANTrainer`."""

    model: RefWarp
    losses: RefWarpLosses

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gan = GANLoss(self.losses.gan_mode)
        self.vgg = self.perceptual_loss(self.losses.vgg_weights) if self.losses.perceptual > 0 else None

    @property
    def adversarial(self) -> bool:
        return self.iteration >= self.losses.adversarial_from

    def dis_losses(self, batch: Batch) -> dict[str, Tensor]:
        with torch.no_grad():
            fake = self._generate(self.model.generator, batch).frames
        real = self.real_scores(self._d, batch["frames"], batch["maps"])
        return {"image": self.gan(real, True, True) + self.gan(self._d(fake, batch["maps"]), False, True)}

    def gen_losses(self, batch: Batch) -> dict[str, Tensor]:
        weights, real = self.losses, batch["frames"]
        out = self._generate(self.model.generator, batch)
        fake = out.frames
        terms = {"l1": weights.l1 * F.l1_loss(fake.float(), real.float()),
                 "ssim": weights.ssim * ssim_loss((fake.float() + 1) / 2, (real.float() + 1) / 2, 11)}
        if weights.drawn > 0:
            unseen = (out.coverage.amax(1, keepdim=True) == 0).float()
            terms["drawn"] = weights.drawn * ((out.drawn.float() - real.float()).abs() * unseen).sum() \
                / (unseen.sum() * 3).clamp_min(1.0)
        if self.adversarial:
            fake_scores = self._d(fake, batch["maps"])
            with torch.no_grad():
                real_scores = self._d(real, batch["maps"])
            terms["gan"] = weights.adversarial * self.gan(fake_scores, True, False)
            terms["feature_matching"] = weights.feature_matching * feature_matching_loss(fake_scores, real_scores)
        if self.vgg is not None:
            terms["perceptual"] = weights.perceptual * self.vgg(fake, real)
        return terms

    def preview(self, generator: nn.Module, batch: Batch) -> Tensor:
        """Up to four samples ``(B, 3, H, 4W)``: maps | first reference warped | generated | real."""
        count = min(4, batch["frames"].shape[0])
        out = self._generate(generator, {k: v[:count] for k, v in batch.items()})
        maps = batch["maps"][:count]
        shown = maps[:, :3] if maps.shape[1] >= 3 else maps.mean(1, keepdim=True).expand(-1, 3, -1, -1)
        return torch.cat([shown * 2 - 1, out.warped[:, 0], out.frames, batch["frames"][:count]], dim=-1)

    def _generate(self, generator: nn.Module, batch: Batch):
        return generator(batch["maps"], batch["points"], batch["references"], batch["reference_points"])

    def _d(self, frames: Tensor, maps: Tensor) -> list:
        return self.model.discriminators["image"](torch.cat([maps, frames.to(maps.dtype)], dim=1))


def reference_dataset(settings: ReferenceSettings, model: RefWarp) -> tuple[ReferencePairsDataset, None]:
    """Training pairs of ``settings.file`` for ``model`` (its reference count, its map channels)."""
    if not settings.file:
        raise ConfigError("data.file: give the references.npz written by vidgan.data.reference_frames")
    data = ReferenceFrames.load(settings.file)
    if settings.references != model.config["references"]:
        raise ConfigError(f"data.references is {settings.references}; model.references is {model.config['references']}")
    if data.maps.shape[-1] != model.config["map_channels"]:
        raise ConfigError(f"{settings.file} has {data.maps.shape[-1]}-channel maps; model.map_channels is "
                          f"{model.config['map_channels']}")
    multiple = model.size_multiple
    if data.size[0] % multiple or data.size[1] % multiple:
        raise ConfigError(f"{settings.file}: frames of {data.size} are not multiples of {multiple} (model.channels)")
    return ReferencePairsDataset(data, settings), None


FAMILY = Family(
    name="ref_warp", model=RefWarp, trainer=RefWarpTrainer, data=ReferenceSettings, losses=RefWarpLosses,
    dataset=reference_dataset,
)
