"""A tracker for shape-motion videos (:mod:`vidgan.data.shapes`, MoCoGAN's shapes set): does a
generated video hold one connected shape of constant colour, and which way does it move?

Per frame, foreground is every pixel whose brightest channel exceeds
``max(min_level, relative_level * that frame's brightest pixel)`` (the background is black;
some real shapes are as dark as 24/255). Connected components (8-connectivity) of at least
``speck`` pixels count as objects. A video *holds one shape* when every frame has exactly one
object, of at least ``min_area`` of the frame, and its mean colour never moves more than
``colour_tolerance`` (per channel, fraction of 255) from the video's median colour. Its
*direction* is the class ``k < directions`` of :data:`vidgan.data.shapes.DIRECTIONS` nearest to
the shape's displacement from the first frame to the last, when that is within ``180 /
directions`` degrees of it (45 for the 4 axis directions) and the travel is at least
``min_travel`` of the frame size. Real clips of the shapes set score 100% on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vidgan.data.shapes import DIRECTIONS
from vidgan.nn.images import to_uint8


@dataclass(frozen=True)
class TrackerSettings:
    """Thresholds of :func:`track_shape` (see the module docstring)."""

    min_level: float = 16.0
    relative_level: float = 0.35
    speck: int = 3
    min_area: float = 0.004
    max_area: float = 0.15
    colour_tolerance: float = 0.125
    min_travel: float = 0.25
    #: 4 (up, left, down, right) or 8 (and the diagonals).
    directions: int = 4

    def __post_init__(self) -> None:
        if self.directions not in (4, 8):
            raise ValueError(f"directions must be 4 or 8, got {self.directions}")


@dataclass(frozen=True)
class ShapeTrack:
    """What the tracker saw in one video."""

    #: Objects (components of at least ``speck`` pixels) in each frame, (T,).
    objects: np.ndarray
    #: Every frame holds exactly one object, of ``min_area`` to ``max_area`` of the frame.
    one_shape: bool
    #: Largest deviation of the shape's mean colour from its median over the video (0..1).
    colour_change: float
    #: One shape, and ``colour_change`` within tolerance.
    constant_shape: bool
    #: Displacement (dx, dy) in pixels of the largest object's centroid, first to last frame.
    displacement: tuple[float, float]
    #: Class of :data:`~vidgan.data.shapes.DIRECTIONS` it moves in, or None (no clear direction).
    direction: int | None


@dataclass(frozen=True)
class ShapeMotionScores:
    """Fractions over a set of videos (0..1)."""

    videos: int
    #: Every frame one connected shape.
    one_shape: float
    #: One connected shape of constant colour: the proof's first figure.
    constant_shape: float
    #: Moves in its category's direction (only when categories were given, else None).
    direction: float | None

    def describe(self) -> str:
        text = f"{self.videos} videos: one connected shape of constant colour {self.constant_shape:.1%} " \
               f"(one shape {self.one_shape:.1%})"
        if self.direction is not None:
            text += f", moves in its class's direction {self.direction:.1%}"
        return text


def to_uint8_frames(video: torch.Tensor | np.ndarray) -> np.ndarray:
    """A clip ``(T, C, H, W)`` float tensor in [-1, 1] or RGB uint8 ``(T, H, W, 3)`` -> ``(T, H, W, 3)`` uint8."""
    if isinstance(video, np.ndarray):
        if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(f"expected uint8 (T, H, W, 3), got {video.dtype} {video.shape}")
        return video
    return to_uint8(video.expand(-1, 3, -1, -1) if video.shape[1] == 1 else video)


def track_shape(video: torch.Tensor | np.ndarray, settings: TrackerSettings = TrackerSettings()) -> ShapeTrack:
    """Track the shape of one clip (as :func:`to_uint8_frames` takes)."""
    frames = to_uint8_frames(video)
    height, width = frames.shape[1:3]
    objects, colours, centres, sized = [], [], [], True
    for frame in frames:
        level = frame.max(axis=2)
        threshold = max(settings.min_level, settings.relative_level * float(level.max()))
        mask = (level > threshold).astype(np.uint8)
        count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        objects.append(int((areas >= settings.speck).sum()))
        if count == 1:
            sized = False
            continue
        main = 1 + int(areas.argmax())
        sized &= bool(settings.min_area <= areas.max() / (height * width) <= settings.max_area)
        colours.append(frame[labels == main].mean(axis=0))
        centres.append(centroids[main])
    counts = np.array(objects)
    one_shape = bool((counts == 1).all() and sized)
    colour_change = 1.0
    if len(colours) == len(frames):
        palette = np.array(colours) / 255.0
        colour_change = float(np.abs(palette - np.median(palette, axis=0)).max())
    displacement, direction = (0.0, 0.0), None
    if len(centres) == len(frames):
        delta = centres[-1] - centres[0]
        displacement = (float(delta[0]), float(delta[1]))
        direction = _direction(delta, settings.min_travel * min(height, width), settings.directions)
    return ShapeTrack(counts, one_shape, colour_change, one_shape and colour_change <= settings.colour_tolerance,
                      displacement, direction)


def shape_motion_scores(
    videos: Sequence[torch.Tensor | np.ndarray] | torch.Tensor,
    categories: Sequence[int] | torch.Tensor | None = None,
    settings: TrackerSettings = TrackerSettings(),
) -> ShapeMotionScores:
    """Track every clip of ``videos`` (``(B, T, C, H, W)`` in [-1, 1], or a list of clips) and
    score them; with ``categories`` (B,) also the fraction moving in their class's direction."""
    tracks = [track_shape(video, settings) for video in videos]
    if not tracks:
        raise ValueError("no videos to score")
    direction = None
    if categories is not None:
        wanted = [int(c) for c in categories]
        if len(wanted) != len(tracks):
            raise ValueError(f"{len(wanted)} categories for {len(tracks)} videos")
        direction = float(np.mean([t.direction == c for t, c in zip(tracks, wanted, strict=True)]))
    return ShapeMotionScores(
        len(tracks),
        float(np.mean([t.one_shape for t in tracks])),
        float(np.mean([t.constant_shape for t in tracks])),
        direction,
    )


def _direction(delta: np.ndarray, min_travel: float, directions: int) -> int | None:
    travel = float(np.hypot(*delta))
    if travel < min_travel:
        return None
    cosines = np.array(DIRECTIONS[:directions]) @ (delta / travel)
    best = int(cosines.argmax())
    return best if cosines[best] >= np.cos(np.pi / directions) - 1e-9 else None
