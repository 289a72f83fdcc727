"""Training recipe of TP-GAN (:mod:`vidgan.models.tpgan`): loss weights, trainer, dataset
binding and ``FAMILY``.

Trainer (:class:`TPGANTrainer`, weights in :class:`TPGANLosses`, the paper's by default): L1 to
the frontal target at S, S/2 and S/4 (``pixel``) and of each local patch to the target's patch
at the same template position (``local``); symmetry, the L1 between the output and its mirror
image at S and S/2; the adversarial loss; identity (cosine distance of a face-recognition
embedding, :mod:`vidgan.nn.identity`, when ``identity_weights`` names one); total variation.
The noise comes from the trainer's seeded :meth:`~vidgan.train.trainer.GANTrainer.noise`;
inference uses zero noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.data.multiview import MultiviewSettings, multiview_dataset
from vidgan.models.tpgan import Frontalizer, TPGANOutput, extract_patches
from vidgan.nn import DiscriminatorOutput, GANLoss, total_variation_loss
from vidgan.nn.identity import identity_loss_or_none
from vidgan.train.experiment import Family
from vidgan.train.trainer import Batch, GANTrainer

__all__ = ["FAMILY", "TPGANLosses", "TPGANTrainer", "symmetry_loss", "tpgan_dataset"]


def symmetry_loss(images: Tensor) -> Tensor:
    """L1 between ``images (B, C, H, W)`` and their horizontal mirror images (0 for symmetric ones)."""
    return F.l1_loss(images.float(), images.flip(-1).float())


@dataclass
class TPGANLosses:
    """Loss weights (``losses:`` of a TP-GAN config), the paper's by default.

    ``pixel``: L1 to the frontal target at S, S/2, S/4 (mean of the three); ``local``: L1 of
    the local pathways' patches to the target's patches at the template positions (mean of the
    four); ``symmetry``: L1 of the output to its mirror image at S and S/2; ``adversarial``: the
    generator's GAN loss (``gan_mode``; the discriminator's loss is unweighted); ``identity``:
    cosine distance of face embeddings of output and target, on only when
    ``identity_weights`` names a TorchScript face-embedding network (:mod:`vidgan.nn.identity`)
    of input side ``identity_size``; ``tv``: total variation of the output.
    """

    gan_mode: Literal["hinge", "lsgan", "nonsaturating"] = "nonsaturating"
    pixel: float = 1.0
    local: float = 1.0
    symmetry: float = 0.3
    adversarial: float = 1e-3
    identity: float = 3e-3
    tv: float = 1e-4
    identity_weights: str | None = None
    identity_size: int = 112

    def __post_init__(self) -> None:
        for name in ("pixel", "local", "symmetry", "adversarial", "identity", "tv"):
            if getattr(self, name) < 0:
                raise ValueError(f"losses.{name} must be >= 0, got {getattr(self, name)}")


class TPGANTrainer(GANTrainer):
    """The TP-GAN losses (module docstring) on :class:`~vidgan.train.GANTrainer`."""

    model: Frontalizer
    losses: TPGANLosses

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gan = GANLoss(self.losses.gan_mode)
        self.identity = None
        if self.losses.identity > 0:
            self.identity = identity_loss_or_none(self.losses.identity_weights, self.losses.identity_size)
            if self.identity is None:
                self.notice("identity loss off: no losses.identity_weights; export a face-recognition network "
                            "as TorchScript (see vidgan.nn.identity) and set losses.identity_weights=PATH")
            else:
                self.identity = self.identity.to(self.device)
        skipped = getattr(self.dataset, "skipped", [])
        if skipped:
            shown = "; ".join(f"{path}: {reason}" for path, reason in skipped[:3])
            self.notice(f"{len(skipped)} images left out of the data ({shown}{'; ...' if len(skipped) > 3 else ''})")

    def _generate(self, generator: nn.Module, batch: Batch) -> TPGANOutput:
        noise = self.noise(self.model.noise_dim) if self.model.noise_dim else None
        return generator(batch["profile"], batch["profile_landmarks"], noise)

    def _image_d(self, image: Tensor) -> DiscriminatorOutput:
        return self.model.discriminators["image"](image)

    def dis_losses(self, batch: Batch) -> dict[str, Tensor]:
        with torch.no_grad():
            fake = self._generate(self.model.generator, batch).image
        real = self.real_scores(self._image_d, batch["frontal"])
        return {"image": self.gan(real, True, True) + self.gan(self._image_d(fake), False, True)}

    def gen_losses(self, batch: Batch) -> dict[str, Tensor]:
        weights, target = self.losses, batch["frontal"]
        output = self._generate(self.model.generator, batch)
        scales = ((output.image, target), (output.half, F.avg_pool2d(target, 2)),
                  (output.quarter, F.avg_pool2d(target, 4)))
        pixel = torch.stack([F.l1_loss(fake.float(), real.float()) for fake, real in scales]).mean()
        template = self.model.generator.template.to(target.dtype)
        local = torch.stack([
            F.l1_loss(patch.float(), extract_patches(target, centre.expand(len(target), 2), patch.shape[-2:]).float())
            for centre, patch in zip(template, output.patches, strict=True)
        ]).mean()
        terms = {
            "pixel": weights.pixel * pixel,
            "local": weights.local * local,
            "symmetry": weights.symmetry * (symmetry_loss(output.image) + symmetry_loss(output.half)) / 2,
            "adversarial": weights.adversarial * self.gan(self._image_d(output.image), True, False),
            "tv": weights.tv * total_variation_loss(output.image),
        }
        if self.identity is not None:
            terms["identity"] = weights.identity * self.identity(output.image, target)
        return terms

    def preview(self, generator: nn.Module, batch: Batch) -> Tensor:
        """Up to four rows ``(B, 3, S, 3S)``: input | frontalized (zero noise) | target."""
        count = min(4, batch["profile"].shape[0])
        output = generator(batch["profile"][:count], batch["profile_landmarks"][:count])
        return torch.cat([batch["profile"][:count], output.image, batch["frontal"][:count]], dim=-1)


def tpgan_dataset(settings: MultiviewSettings, model: Frontalizer) -> tuple[torch.utils.data.Dataset, None]:
    """The family's dataset: ``settings`` at the model's crop geometry."""
    return multiview_dataset(settings, model.crop_size, model.crop_scale), None


FAMILY = Family(
    name="tpgan", model=Frontalizer, trainer=TPGANTrainer, data=MultiviewSettings, losses=TPGANLosses,
    dataset=tpgan_dataset,
)
