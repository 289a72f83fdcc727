"""Re-encode a video: new frame rate and/or size, H.264, source audio kept."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidgan.errors import ConfigError, DecodeError
from vidgan.io.atomic import VIDEO_SUFFIXES, check_output
from vidgan.io.container import MAX_FRAME_PIXELS
from vidgan.io.probe import VideoInfo
from vidgan.io.reader import VideoReader
from vidgan.io.writer import VideoWriter
from vidgan.progress import progress


def parse_size(text: str) -> tuple[int, int] | int:
    """``"640x360"`` -> ``(360, 640)`` (height, width); ``"256"`` -> 256 (the shorter side)."""
    width, sep, height = text.lower().partition("x")
    try:
        if sep:
            size = (int(height), int(width))
            if min(size) > 0:
                return size
        elif int(text) > 0:
            return int(text)
    except ValueError:
        pass
    raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT or one number for the shorter side")


def output_size(info: VideoInfo, size: tuple[int, int] | int | None) -> tuple[int, int]:
    """Output ``(height, width)``: as given, or scaled so the shorter side is ``size``."""
    if size is None:
        return info.size
    if isinstance(size, tuple):
        return size
    scale = size / min(info.size)
    return round(info.height * scale), round(info.width * scale)


#: libx264's speed presets.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
#: The highest output frame rate :func:`convert` writes.
MAX_FPS = 1000


@dataclass(frozen=True)
class ConvertReport:
    """What :func:`convert` wrote, and the damage it met in the source (empty when clean)."""

    path: Path
    frames: int
    damage: list[str]


def convert(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    fps: Fraction | float | None = None,
    size: tuple[int, int] | int | None = None,
    crf: int = 18,
    preset: str = "medium",
    allow_damaged: bool = False,
) -> ConvertReport:
    """Re-encode ``source`` into ``target`` at ``fps`` and ``size`` (defaults: the source's).

    A frame-rate change drops or repeats frames by timestamp. Damaged input raises
    :class:`DecodeError` and leaves no output unless ``allow_damaged``, which converts what
    decodes and lists the damage in the report.
    """
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise ConfigError(f"crf must be a whole number in 0..51 (lower is better), got {crf}")
    if preset not in X264_PRESETS:
        raise ConfigError(f"preset {preset!r}: choose one of {', '.join(X264_PRESETS)}")
    if fps is not None and not 0 < fps <= MAX_FPS:
        raise ConfigError(f"fps must be in (0, {MAX_FPS}], got {fps}")
    check_output(target, [source], VIDEO_SUFFIXES)
    reader = VideoReader(source, strict=not allow_damaged)
    info = reader.info
    out_fps = Fraction(fps).limit_denominator(1_000_000) if fps else info.fps
    height, width = output_size(info, size)
    if min(height, width) < 2 or height * width > MAX_FRAME_PIXELS:
        raise ConfigError(f"size {width}x{height}: each side must be >= 2 and the frame at most "
                          f"{MAX_FRAME_PIXELS} pixels")
    audio = info.path if info.has_audio else None
    with VideoWriter(target, out_fps, crf=crf, preset=preset, audio_from=audio) as writer:
        frames = _retimed(reader.indexed_frames(), info.fps, out_fps)
        total = int(len(reader) * out_fps / info.fps)
        for frame in progress(frames, total=total, desc=f"convert {info.path.name}"):
            if frame.shape[:2] != (height, width):
                frame = cv2.resize(frame, (width, height), interpolation=_interpolation(frame, width))
            writer.write(frame)
        if writer.frames_written == 0:
            raise DecodeError(source, "no frame could be decoded")
    return ConvertReport(Path(target), writer.frames_written, list(reader.damage))


def _retimed(indexed: Iterator[tuple[int, np.ndarray]], src: Fraction, dst: Fraction) -> Iterator[np.ndarray]:
    """Output frame ``k`` shows the source frame on screen at time ``k / dst``."""
    if src == dst:
        yield from (frame for _, frame in indexed)
        return
    out_index = 0
    for index, frame in indexed:
        while out_index * src // dst <= index:
            yield frame
            out_index += 1


def _interpolation(frame: np.ndarray, width: int) -> int:
    return cv2.INTER_AREA if width < frame.shape[1] else cv2.INTER_LINEAR
