"""Synthetic videos the project makes itself: a demo and tests need no downloaded footage."""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidgan.io import VideoWriter, write_audio
from vidgan.io.atomic import temporary_sibling


def synthetic_frames(frames: int, height: int, width: int, *, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield RGB frames of a red disc and a blue square moving over a textured gradient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack([x / width * 200, y / height * 200, np.full_like(x, 90)], axis=-1)
    background += rng.normal(0, 6, background.shape)
    background = np.clip(background, 0, 255).astype(np.uint8)
    radius = max(2, min(height, width) // 8)
    for t in range(frames):
        phase = 2 * np.pi * t / max(frames, 1)
        frame = background.copy()
        centre = (int(width / 2 + width / 3 * np.cos(phase)), int(height / 2 + height / 4 * np.sin(2 * phase)))
        cv2.circle(frame, centre, radius, (230, 40, 40), -1, lineType=cv2.LINE_AA)
        corner = (int((t * 3) % max(width - radius, 1)), height - 2 * radius - 2)
        cv2.rectangle(frame, corner, (corner[0] + radius, corner[1] + radius), (40, 60, 220), -1)
        yield frame


def tone(seconds: float, rate: int = 48000, *, step: float = 1.0) -> np.ndarray:
    """A stereo tone whose pitch rises every ``step`` seconds (so time offsets are audible)."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 220.0 * 2 ** (np.floor(t / step) / 12)
    wave = 0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / rate)
    return np.stack([wave, wave]).astype(np.float32)


def write_synthetic_video(
    path: str | os.PathLike[str],
    *,
    frames: int = 96,
    size: tuple[int, int] = (256, 256),
    fps: Fraction | int = 24,
    audio: bool = True,
    crf: int = 18,
) -> Path:
    """Write a synthetic clip (with a tone soundtrack when ``audio``) to ``path``."""
    target = Path(path)
    height, width = size
    soundtrack = None
    if audio:
        soundtrack = temporary_sibling(target.with_suffix(".m4a"))
        write_audio(soundtrack, tone(frames / float(fps)), 48000)
    try:
        with VideoWriter(target, fps, crf=crf, preset="veryfast", audio_from=soundtrack) as writer:
            writer.write_all(synthetic_frames(frames, height, width))
    finally:
        if soundtrack is not None:
            soundtrack.unlink(missing_ok=True)
    return target
