"""What every GAN family's model is: a generator plus named discriminators, saved as one."""

from __future__ import annotations

import importlib

import torch
from torch import nn

from vidgan.models import MODELS
from vidgan.nn.pretrained import Pretrained


class GANModel(Pretrained):
    """Base of the model families. A subclass builds ``self.generator`` (used for inference and
    averaged by the trainer's EMA) and ``self.discriminators`` (a ``ModuleDict``; training only)
    in its ``__init__`` and adds its inference methods."""

    generator: nn.Module
    discriminators: nn.ModuleDict

    @classmethod
    def _model_class(cls, name: str) -> type[Pretrained] | None:
        """A folder's model: a class defined so far, or one of vidgan's own (:data:`MODELS`)."""
        if name in MODELS:
            importlib.import_module(MODELS[name])
        return super()._model_class(name)


class FaceModel(GANModel):
    """A model of aligned face crops (Age-cGAN, TP-GAN): its constructor takes ``crop_size`` and
    ``crop_scale``, the geometry of :func:`vidgan.keypoints.align.face_transform` it was trained
    on, which the face-editing pipeline crops video frames with."""

    @property
    def crop_size(self) -> int:
        return int(self.config["crop_size"])

    @property
    def crop_scale(self) -> float:
        """The ``face_transform`` zoom the crops are aligned with."""
        return float(self.config["crop_scale"])

    @property
    def device(self) -> torch.device:
        """The device of the weights."""
        return next(self.parameters()).device
