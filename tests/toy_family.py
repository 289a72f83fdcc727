"""A tiny real GAN family (16x16 images of a bright square) for testing the trainer itself.

No batch norm, so data-parallel runs match single-process runs to float tolerance. Its loss
settings can inject a NaN or kill the process at a given iteration, to test the guard and resume.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from vidgan.models.base import GANModel
from vidgan.nn.losses import GANLoss
from vidgan.train.experiment import Family
from vidgan.train.trainer import GANTrainer


class ToyGAN(GANModel):
    def __init__(self, dim_z: int = 8, width: int = 16, size: int = 16) -> None:
        super().__init__()
        self.dim_z = dim_z
        self.generator = nn.Sequential(
            nn.Linear(dim_z, width * (size // 4) ** 2), nn.Unflatten(1, (width, size // 4, size // 4)),
            nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2), nn.Conv2d(width, 3, 3, padding=1), nn.Tanh(),
        )
        self.discriminators = nn.ModuleDict({"image": nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(width * (size // 4) ** 2, 1),
        )})


class Squares(Dataset):
    """``count`` images ``(3, size, size)`` in [-1, 1]: a coloured square at a seeded position."""

    def __init__(self, count: int = 64, size: int = 16, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.full((count, 3, size, size), -1.0)
        corners = torch.randint(0, size - 5, (count, 2), generator=generator)
        colours = torch.rand((count, 3), generator=generator) * 2 - 1
        for image, (y, x), colour in zip(self.images, corners.tolist(), colours, strict=True):
            image[:, y : y + 5, x : x + 5] = colour[:, None, None]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index]}


@dataclass
class ToyData:
    count: int = 64
    size: int = 16


@dataclass
class ToyLosses:
    gan_mode: str = "hinge"
    nan_at_iteration: int = 0
    kill_at_iteration: int = 0
    perceptual: float = 0.0
    vgg_weights: str | None = None


class ToyTrainer(GANTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vgg = self.perceptual_loss(self.losses.vgg_weights) if self.losses.perceptual > 0 else None

    def dis_losses(self, batch):
        model, gan = self.model, GANLoss(self.losses.gan_mode)
        discriminator = model.discriminators["image"]
        with torch.no_grad():
            fake = model.generator(self.noise(model.dim_z))
        real_scores = self.real_scores(discriminator, batch["image"])
        return {"real": gan(real_scores, True, True), "fake": gan(discriminator(fake), False, True)}

    def gen_losses(self, batch):
        model, gan = self.model, GANLoss(self.losses.gan_mode)
        fake = model.generator(self.noise(model.dim_z))
        loss = gan(model.discriminators["image"](fake), True, False)
        terms = {"gan": loss}
        if self.vgg is not None:
            terms["perceptual"] = self.losses.perceptual * self.vgg(fake, batch["image"])
        if self.iteration + 1 == self.losses.kill_at_iteration:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.iteration + 1 == self.losses.nan_at_iteration and self.rollbacks == 0:
            terms["gan"] = loss * float("nan")
        return terms

    def preview(self, generator, batch):
        return generator(self.noise(self.model.dim_z))


FAMILY = Family(
    name="toy", model=ToyGAN, trainer=ToyTrainer, data=ToyData, losses=ToyLosses,
    dataset=lambda data, model: (Squares(data.count, data.size), None),
)
