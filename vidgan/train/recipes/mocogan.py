"""Training recipe of MoCoGAN (:mod:`vidgan.models.mocogan`): its loss settings, trainer and
``FAMILY``. Non-saturating (BCE) GAN losses of the image and video discriminators, the video
discriminator's category loss on real labels and the generator's InfoGAN-style category loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.data.video_datasets import ClipData
from vidgan.models.mocogan import MoCoGAN, MoCoGANGenerator
from vidgan.nn import GANLoss
from vidgan.train.experiment import Family
from vidgan.train.recipes.video_clips import clip_dataset, preview_labels
from vidgan.train.trainer import Batch, GANTrainer


@dataclass
class MoCoGANLosses:
    """Loss settings (``losses:``): GAN loss mode and the weight of each term."""

    #: MoCoGAN's code uses BCE, i.e. ``nonsaturating``.
    gan_mode: Literal["hinge", "lsgan", "nonsaturating"] = "nonsaturating"
    image: float = 1.0
    video: float = 1.0
    #: The video discriminator's category head on real clips' labels (``--use_categories``).
    category: float = 1.0
    #: The generator's category loss on its own clips (InfoGAN-style, ``--use_infogan``).
    infogan: float = 1.0


class MoCoGANTrainer(GANTrainer):
    """MoCoGAN's losses. Each micro-batch of ``B`` real clips also gives ``B`` real frames (one
    random frame of each clip): MoCoGAN's image and video batches, both of size ``B``."""

    model: MoCoGAN
    losses: MoCoGANLosses

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gan = GANLoss(self.losses.gan_mode)

    def _latents(self, length: int) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
        """Content, class ids, GRU initial state and innovations for this rank's micro-batch."""
        g = self.model.generator
        category = self.randint(g.num_classes) if g.num_classes else None
        return self.noise(g.dim_z_content), category, self.noise(g.dim_z_motion), self.noise(length, g.dim_z_motion)

    def fake_videos(self, generator: MoCoGANGenerator, length: int) -> tuple[Tensor, Tensor | None]:
        """Generated clips ``(B, T, C, H, W)`` and their class ids ``(B,)`` (or None)."""
        content, category, initial, innovations = self._latents(length)
        return generator(content, category, generator.motion(initial, innovations)), category

    def fake_images(self, generator: MoCoGANGenerator) -> Tensor:
        """Generated frames ``(B, C, H, W)``, each at a random time of its own video (as
        MoCoGAN's ``sample_images``)."""
        length = self.model.video_length
        content, category, initial, innovations = self._latents(length)
        motion = generator.motion(initial, innovations)
        when = self.randint(length)
        motion = motion[torch.arange(len(when), device=when.device), when][:, None]
        return generator(content, category, motion)[:, 0]

    def dis_losses(self, batch: Batch) -> dict[str, Tensor]:
        d_image, d_video = self.model.discriminators["image"], self.model.discriminators["video"]
        weights, gan = self.losses, self.gan
        real = batch["video"]
        real_images = real[torch.arange(len(real), device=real.device), self.randint(real.shape[1])]
        with torch.no_grad():
            fake, _ = self.fake_videos(self.model.generator, real.shape[1])
            fake_images = self.fake_images(self.model.generator)
        real_logits, real_categories = self.real_scores(d_video, real, noise=self.noise)
        fake_logits, _ = d_video(fake, noise=self.noise)
        terms = {
            "image_real": weights.image * gan(self.real_scores(d_image, real_images, noise=self.noise), True, True),
            "image_fake": weights.image * gan(d_image(fake_images, noise=self.noise), False, True),
            "video_real": weights.video * gan(real_logits, True, True),
            "video_fake": weights.video * gan(fake_logits, False, True),
        }
        if self.model.num_classes and weights.category > 0:
            terms["category"] = weights.category * F.cross_entropy(real_categories.float(), batch["category"])
        return terms

    def gen_losses(self, batch: Batch) -> dict[str, Tensor]:
        d_image, d_video = self.model.discriminators["image"], self.model.discriminators["video"]
        weights, gan, generator = self.losses, self.gan, self.model.generator
        fake_images = self.fake_images(generator)
        fake, category = self.fake_videos(generator, self.model.video_length)
        logits, categories = d_video(fake, noise=self.noise)
        terms = {
            "image": weights.image * gan(d_image(fake_images, noise=self.noise), True, False),
            "video": weights.video * gan(logits, True, False),
        }
        if self.model.num_classes and weights.infogan > 0:
            terms["infogan"] = weights.infogan * F.cross_entropy(categories.float(), category)
        return terms

    def preview(self, generator: nn.Module, batch: Batch) -> Tensor:
        """Up to 8 clips of twice the training length, classes cycling over the columns."""
        content, _, initial, innovations = self._latents(2 * self.model.video_length)
        n = min(8, len(content))
        category = preview_labels(n, generator.num_classes, content.device)
        return generator(content[:n], category, generator.motion(initial[:n], innovations[:n]))


FAMILY = Family(name="mocogan", model=MoCoGAN, trainer=MoCoGANTrainer, data=ClipData, losses=MoCoGANLosses,
                dataset=clip_dataset)

__all__ = ["FAMILY", "MoCoGANLosses", "MoCoGANTrainer"]
