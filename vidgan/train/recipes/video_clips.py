"""What the video families' recipes (:mod:`~vidgan.train.recipes.mocogan`,
:mod:`~vidgan.train.recipes.dvdgan`) share: the clip dataset of their configs, checked against
the model, and the class labels of their preview grids."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from vidgan.data.video_datasets import ClipData, build_clip_dataset
from vidgan.errors import ConfigError
from vidgan.models.video_gan import VideoGAN


def preview_labels(n: int, num_classes: int, device: torch.device) -> Tensor | None:
    """Class ids ``(n,)`` cycling 0, 1, ... for sample grids (one column per class); None
    without classes."""
    return torch.arange(n, device=device) % num_classes if num_classes else None


def clip_dataset(data: ClipData, model: VideoGAN) -> tuple[Dataset, None]:
    """The ``data:`` section's dataset, checked against the model (frame size, clip length, classes)."""
    dataset = build_clip_dataset(data)
    if (data.size, data.length) != (model.size, model.video_length):
        raise ConfigError(f"data.size/data.length ({data.size}, {data.length}) must equal model.size/"
                          f"model.video_length ({model.size}, {model.video_length})")
    if model.num_classes and dataset.num_classes != model.num_classes:
        raise ConfigError(f"model.num_classes is {model.num_classes} but the data has "
                          f"{dataset.num_classes} classes {dataset.classes}")
    return dataset, None
