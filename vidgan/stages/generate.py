"""Sequential video generation in chunks with flat memory: maps in, an encoded video out.

A pose- or edge-conditioned generator with a ``generate(maps, state, face_boxes, temporal=...)``
method (:class:`~vidgan.models.vid2vid.Vid2Vid`) runs over chunks of the conditioning maps;
the state it returns (its previous maps and frames) is fed into the next chunk, so a video of
any length comes out exactly as one call over all of it would make it, holding one chunk.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from vidgan.io import VideoWriter
from vidgan.progress import progress
from vidgan.nn.device import resolve_device
from vidgan.nn.images import to_tensor, to_uint8


@torch.no_grad()
def generate_video(
    model: torch.nn.Module,
    maps: np.ndarray,
    out: str | os.PathLike[str],
    fps: Fraction | int | float,
    *,
    face_boxes: np.ndarray | None = None,
    temporal: bool = True,
    chunk: int = 32,
    audio_from: str | os.PathLike[str] | None = None,
    audio_start: float = 0.0,
    device: str = "auto",
    crf: int = 18,
) -> Path:
    """Generate one frame per map of ``maps`` (uint8 ``(T, H, W, C)``, value / 255) with
    ``model`` and encode them to ``out`` (H.264, atomically), with the audio of ``audio_from``
    from ``audio_start`` seconds, at x264 quality ``crf`` (0: lossless). ``face_boxes (T, 4)``
    pixels (NaN: none) drive face refinement."""
    torch_device = resolve_device(device)
    model = model.to(torch_device).eval()
    state = None
    with VideoWriter(out, fps, crf=crf, preset="veryfast", audio_from=audio_from, audio_start=audio_start) as writer:
        bar = progress(total=len(maps), desc=f"generate {Path(out).name}")
        for start in range(0, len(maps), chunk):
            window = to_tensor(maps[start : start + chunk], signed=False).to(torch_device)
            boxes = None
            if face_boxes is not None:
                boxes = torch.from_numpy(np.asarray(face_boxes[start : start + chunk], np.float32)).to(torch_device)
            frames, state = model.generate(window, state, boxes, temporal=temporal)
            images = to_uint8(frames)
            writer.write_all(images)
            bar.update(len(images))
        bar.close()
    return Path(out)
