"""What every GAN family's model is: a generator plus named discriminators, saved as one."""

from __future__ import annotations

from torch import nn

from vidgan.nn.pretrained import Pretrained


class GANModel(Pretrained):
    """Base of the model families. A subclass builds ``self.generator`` (used for inference and
    averaged by the trainer's EMA) and ``self.discriminators`` (a ``ModuleDict``; training only)
    in its ``__init__`` and adds its inference methods."""

    generator: nn.Module
    discriminators: nn.ModuleDict
