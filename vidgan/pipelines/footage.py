"""Footage preparation shared by the motion-transfer workflows: frame ranges, fitting a video
into the model's frame size, and moving keypoints along with the frames."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidgan.errors import InputError
from vidgan.io import VideoReader, VideoWriter
from vidgan.keypoints import Keypoints
from vidgan.progress import progress


def frame_range(spec: str, frames: int, *, path: str | os.PathLike[str]) -> tuple[int, int]:
    """``"0:200"``, ``"-80:"``, ``":"`` (Python slice syntax, step 1) -> ``(start, stop)`` of a
    video of ``frames`` frames; an empty range is an error naming the video."""
    parts = spec.split(":")
    if len(parts) != 2:
        raise InputError(path, f"frame range {spec!r} must look like start:stop (e.g. 0:200, -80:)")
    try:
        bounds = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise InputError(path, f"frame range {spec!r} must hold integers") from None
    start, stop, _ = slice(*bounds).indices(frames)
    if stop <= start:
        raise InputError(path, f"frame range {spec!r} selects no frame of its {frames} frames")
    return start, stop


@dataclass(frozen=True)
class Fit:
    """Crop ``source_size`` to the aspect of ``size``, then scale: ``(H, W)`` sizes. The crop is
    the centred largest one, or ``box`` ``(x0, y0, width, height)`` (see :meth:`around`)."""

    source_size: tuple[int, int]
    size: tuple[int, int]
    box: tuple[int, int, int, int] | None = None

    @classmethod
    def around(cls, tracks: Keypoints | list[Keypoints], source_size: tuple[int, int], size: tuple[int, int],
               margin: float = 1.8) -> Fit:
        """The fit whose crop holds every visible point of the track(s) (their bounding box over
        all frames, ``margin`` times larger, at the aspect of ``size``), moved inside the frame."""
        tracks = [tracks] if isinstance(tracks, Keypoints) else tracks
        xy = np.concatenate([track.xy[track.visible] for track in tracks])
        if not len(xy):
            return cls(source_size, size)
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        aspect = size[1] / size[0]
        height = max(y1 - y0, (x1 - x0) / aspect) * margin
        height = min(height, source_size[0], source_size[1] / aspect)
        width = height * aspect
        left = float(np.clip((x0 + x1) / 2 - width / 2, 0, source_size[1] - width))
        top = float(np.clip((y0 + y1) / 2 - height / 2, 0, source_size[0] - height))
        return cls(source_size, size, (round(left), round(top), round(width), round(height)))

    @property
    def crop(self) -> tuple[int, int, int, int]:
        """``(x0, y0, width, height)`` of the crop in source pixels."""
        if self.box is not None:
            return self.box
        height, width = self.source_size
        aspect = self.size[1] / self.size[0]
        crop_w, crop_h = (width, round(width / aspect)) if width / height < aspect else (round(height * aspect), height)
        return (width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h

    @property
    def scales(self) -> tuple[float, float]:
        """``(x, y)`` source pixels -> fitted pixels."""
        _, _, width, height = self.crop
        return self.size[1] / width, self.size[0] / height

    def frame(self, frame: np.ndarray) -> np.ndarray:
        """A source frame ``(h, w, 3)`` -> ``(H, W, 3)``."""
        x0, y0, w, h = self.crop
        return cv2.resize(frame[y0 : y0 + h, x0 : x0 + w], self.size[::-1], interpolation=cv2.INTER_AREA)

    def keypoints(self, keypoints: Keypoints) -> Keypoints:
        """Source-pixel keypoints -> keypoints of the fitted frames (outside: still there, off-frame)."""
        x0, y0, _, _ = self.crop
        scale_x, scale_y = self.scales
        points = keypoints.points.copy()
        points[..., 0] = (points[..., 0] - x0) * scale_x
        points[..., 1] = (points[..., 1] - y0) * scale_y
        return replace(keypoints, points=points, image_size=self.size)


def write_fitted_clip(
    video: str | os.PathLike[str], start: int, stop: int, fit: Fit, out: str | os.PathLike[str]
) -> Path:
    """Frames ``start..stop-1`` of ``video`` fitted to ``fit.size``, encoded near-losslessly
    (crf 12) without audio, atomically."""
    reader = VideoReader(video)
    with VideoWriter(out, reader.info.fps, crf=12, preset="veryfast") as writer:
        for _, frame in progress(reader.indexed_frames(start, stop), total=stop - start, desc=f"fit {Path(video).name}"):
            writer.write(fit.frame(frame))
    return Path(out)


def select_frames(keypoints: Keypoints, start: int, stop: int, *, path: str | os.PathLike[str]) -> Keypoints:
    """The frames ``start..stop-1`` of a whole-video track (by ``frame_index``), in order."""
    lookup = {int(index): row for row, index in enumerate(keypoints.frame_index)}
    missing = [i for i in range(start, stop) if i not in lookup]
    if missing:
        raise InputError(path, f"poses lack frames {missing[0]}..{missing[-1]} of the range {start}:{stop}")
    return keypoints[np.asarray([lookup[i] for i in range(start, stop)])]


def fps_of(video: str | os.PathLike[str]) -> Fraction:
    return VideoReader(video).info.fps
