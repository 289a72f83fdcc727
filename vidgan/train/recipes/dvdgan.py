"""Training recipe of DVD-GAN (:mod:`vidgan.models.dvdgan`): its loss weights, trainer and
``FAMILY``. Hinge losses of the spatial and temporal discriminators; the generator minimises
``-(D_S + D_T)``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vidgan.data.video_datasets import ClipData
from vidgan.models.dvdgan import DVDGAN, DVDGANGenerator
from vidgan.nn import GANLoss
from vidgan.train.experiment import Family
from vidgan.train.recipes.video_clips import clip_dataset, preview_labels
from vidgan.train.trainer import Batch, GANTrainer


@dataclass
class DVDGANLosses:
    """Loss weights (``losses:``) of the two discriminators' hinge terms."""

    spatial: float = 1.0
    temporal: float = 1.0


class DVDGANTrainer(GANTrainer):
    """DVD-GAN's hinge losses: D on real clips and generated ones, G on ``-(D_S + D_T)``."""

    model: DVDGAN
    losses: DVDGANLosses

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gan = GANLoss("hinge")

    def fake_videos(self, generator: DVDGANGenerator, length: int) -> tuple[Tensor, Tensor | None]:
        """Generated clips ``(B, T, C, H, W)`` and their class ids ``(B,)`` (or None)."""
        category = self.randint(generator.num_classes) if generator.num_classes else None
        return generator(self.noise(generator.dim_z), category, length), category

    def spatial_frames(self, video: Tensor) -> Tensor:
        """``k`` distinct random frames of each clip: ``(B, T, C, H, W)`` -> ``(B, k, C, H, W)``."""
        chosen = self.noise(video.shape[1]).argsort(dim=1)[:, : self.model.spatial_frames]
        return video[torch.arange(len(video), device=video.device)[:, None], chosen]

    def dis_losses(self, batch: Batch) -> dict[str, Tensor]:
        d_spatial, d_temporal = self.model.discriminators["spatial"], self.model.discriminators["temporal"]
        real = batch["video"]
        real_category = batch["category"] if self.model.num_classes else None
        with torch.no_grad():
            fake, fake_category = self.fake_videos(self.model.generator, real.shape[1])
        w, gan = self.losses, self.gan
        return {
            "spatial_real": w.spatial * gan(self.real_scores(d_spatial, self.spatial_frames(real), real_category),
                                            True, True),
            "spatial_fake": w.spatial * gan(d_spatial(self.spatial_frames(fake), fake_category), False, True),
            "temporal_real": w.temporal * gan(self.real_scores(d_temporal, real, real_category), True, True),
            "temporal_fake": w.temporal * gan(d_temporal(fake, fake_category), False, True),
        }

    def gen_losses(self, batch: Batch) -> dict[str, Tensor]:
        d_spatial, d_temporal = self.model.discriminators["spatial"], self.model.discriminators["temporal"]
        fake, category = self.fake_videos(self.model.generator, self.model.video_length)
        w, gan = self.losses, self.gan  # hinge for G: -mean(D(G(z)))
        return {
            "spatial": w.spatial * gan(d_spatial(self.spatial_frames(fake), category), True, False),
            "temporal": w.temporal * gan(d_temporal(fake, category), True, False),
        }

    def preview(self, generator: nn.Module, batch: Batch) -> Tensor:
        """Up to 8 clips of twice the training length, classes cycling over the columns."""
        z = self.noise(generator.dim_z)[:8]
        return generator(z, preview_labels(len(z), generator.num_classes, z.device), 2 * self.model.video_length)


FAMILY = Family(name="dvdgan", model=DVDGAN, trainer=DVDGANTrainer, data=ClipData, losses=DVDGANLosses,
                dataset=clip_dataset)


__all__ = ["FAMILY", "DVDGANLosses", "DVDGANTrainer"]
