"""Training recipe of Age-cGAN (:mod:`vidgan.models.age_cgan`): loss weights and stage
schedule, trainer, dataset binding and ``FAMILY``.

Trainer (:class:`AgeCGANTrainer`, weights in :class:`AgeCGANLosses`), the paper's two stages by
iteration (so resume is exact):

- iterations ``< encoder_start``: the conditional GAN on real crops and their age groups (fakes
  get the batch's groups, so they follow the data's group distribution); E rests;
- then E learns to invert G on generated faces: z and a random group are drawn,
  x = G(z, y) with G fixed (eval mode, no gradient), loss ``||E(x) - z||²`` (mean over
  elements), plus optionally ``reconstruction`` x L1 of G(E(x), y) against real crops (gradient to
  E only); D rests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.data.face_ages import FaceAgeDataset, FaceAgeSettings, load_face_ages
from vidgan.models.age_cgan import FaceAger, age_group_indices
from vidgan.nn import GANLoss
from vidgan.train.experiment import Family
from vidgan.train.trainer import Batch, GANTrainer

__all__ = ["FAMILY", "AgeCGANLosses", "AgeCGANTrainer", "face_age_dataset"]


@dataclass
class AgeCGANLosses:
    """Loss weights and the stage schedule (``losses:`` of an Age-cGAN config).

    ``encoder_start``: iterations of the conditional GAN before E's stage starts; ``gan_mode``,
    ``gan``: the adversarial loss of stage 1 (the paper's cross-entropy is ``nonsaturating``);
    ``encoder``: weight of ``||E(G(z, y)) - z||²`` in stage 2; ``reconstruction``: weight of the L1
    of ``G(E(x), y)`` against real crops ``x`` in stage 2 (0: off, as the paper).
    """

    gan_mode: Literal["hinge", "lsgan", "nonsaturating"] = "nonsaturating"
    gan: float = 1.0
    encoder_start: int = 10000
    encoder: float = 1.0
    reconstruction: float = 0.0

    def __post_init__(self) -> None:
        if self.encoder_start < 0 or self.reconstruction < 0 or self.encoder < 0:
            raise ValueError("losses.encoder_start, losses.encoder and losses.reconstruction must be >= 0")


class AgeCGANTrainer(GANTrainer):
    """The Age-cGAN losses and stage schedule on :class:`~vidgan.train.GANTrainer` (module docstring)."""

    model: FaceAger
    losses: AgeCGANLosses

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gan = GANLoss(self.losses.gan_mode)

    @property
    def stage(self) -> int:
        """1 (conditional GAN) while ``iteration < losses.encoder_start``, then 2 (encoder)."""
        return 1 if self.iteration < self.losses.encoder_start else 2

    def trained_networks(self, which: str) -> list[nn.Module]:
        """Stage 1: G's synthesis and D; stage 2: E alone (G fixed, D resting)."""
        generator = self.model.generator
        if self.stage == 2:
            return [generator.encoder] if which == "g" else []
        return [generator.project, generator.start, generator.ups, generator.head] if which == "g" else [
            self.model.discriminators]

    def dis_losses(self, batch: Batch) -> dict[str, Tensor]:
        image, groups = batch["image"], batch["group"]
        discriminator = self.model.discriminators["image"]
        with torch.no_grad():
            fake = self.model.generator(self.noise(self.model.generator.z_dim), groups)
        real = self.real_scores(discriminator, image, groups)
        return {"image": self.losses.gan * (self.gan(real, True, True)
                                            + self.gan(discriminator(fake.to(image.dtype), groups), False, True))}

    def gen_losses(self, batch: Batch) -> dict[str, Tensor]:
        generator, weights = self.model.generator, self.losses
        if self.stage == 1:
            groups = batch["group"]
            fake = generator(self.noise(generator.z_dim), groups)
            return {"gan": weights.gan * self.gan(self.model.discriminators["image"](fake, groups), True, False)}
        z = self.noise(generator.z_dim)
        groups = self.randint(generator.num_groups)
        with torch.no_grad():
            fake = generator(z, groups)
        terms = {"encoder": weights.encoder * F.mse_loss(generator.encoder(fake).float(), z.float())}
        if weights.reconstruction > 0:
            image = batch["image"]
            rebuilt = generator(generator.encoder(image), batch["group"])
            terms["reconstruction"] = weights.reconstruction * F.l1_loss(rebuilt.float(), image.float())
        return terms

    def preview(self, generator: nn.Module, batch: Batch) -> Tensor:
        """Up to four rows ``(B, 3, S, (2 + groups) S)``: input | reconstruction at its own group |
        the face at every age group (from E's latent)."""
        count = min(4, batch["image"].shape[0])
        image, groups = batch["image"][:count], batch["group"][:count]
        z = generator.encoder(image)
        columns = [image, generator(z, groups)]
        columns += [generator(z, torch.full_like(groups, g)) for g in range(generator.num_groups)]
        return torch.cat(columns, dim=-1)


def face_age_dataset(settings: FaceAgeSettings, model: FaceAger) -> tuple[FaceAgeDataset, None]:
    """The family's dataset: ``settings``' faces at the model's crop geometry, with their age groups."""
    faces = load_face_ages(settings, model.crop_size, model.crop_scale)
    return FaceAgeDataset(faces.crops.images, age_group_indices(faces.ages, model.config["age_groups"])), None


FAMILY = Family(
    name="age_cgan", model=FaceAger, trainer=AgeCGANTrainer, data=FaceAgeSettings,
    losses=AgeCGANLosses, dataset=face_age_dataset,
)
