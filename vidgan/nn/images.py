"""Images between numpy and tensors, written once: uint8 ``(..., H, W, C)`` <-> float
``(..., C, H, W)`` in [-1, 1] (images a network reads or draws) or [0, 1] (conditioning maps),
and grids of sampled images or clips."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision.utils import make_grid

from vidgan.io.writer import VideoWriter


def to_tensor(images: np.ndarray, *, signed: bool = True) -> Tensor:
    """uint8 ``(..., H, W, C)`` -> float ``(..., C, H, W)`` in [-1, 1] (``signed``) or [0, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).movedim(-1, -3).float()
    return tensor / 127.5 - 1 if signed else tensor / 255


def to_uint8(images: Tensor) -> np.ndarray:
    """float ``(..., C, H, W)`` in [-1, 1] (clamped) -> uint8 ``(..., H, W, C)`` on the CPU."""
    scaled = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return scaled.round().to(torch.uint8).movedim(-3, -1).cpu().numpy()


def grid_frames(samples: Tensor, columns: int | None = None) -> np.ndarray:
    """``(B, C, H, W)`` images or ``(B, T, C, H, W)`` clips in [-1, 1] -> RGB uint8 grid frames
    ``(T, H', W', 3)`` (T = 1 for images; 2-pixel black borders); gray is repeated to RGB."""
    clips = samples.detach().float().cpu()
    clips = clips if clips.dim() == 5 else clips.unsqueeze(1)
    if clips.shape[2] == 1:
        clips = clips.expand(-1, -1, 3, -1, -1)
    columns = columns or math.ceil(math.sqrt(clips.shape[0]))
    grids = [make_grid(clips[:, t], nrow=columns, padding=2, pad_value=-1) for t in range(clips.shape[1])]
    return to_uint8(torch.stack(grids))


def write_video_grid(
    videos: Tensor, path: str | os.PathLike[str], *, fps: float = 8, columns: int | None = None
) -> Path:
    """Write ``videos`` ``(B, T, C, H, W)`` in [-1, 1] as one mp4 of a grid of clips (atomically)."""
    with VideoWriter(path, fps, crf=18, preset="veryfast") as writer:
        writer.write_all(grid_frames(videos, columns))
    return Path(path)
