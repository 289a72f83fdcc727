"""Synthetic "shape motion" videos, as in MoCoGAN's shapes set: one circle or square of one
random colour on black, entering at one edge and leaving at the opposite one along a random
cubic Bezier curve. The class is the direction of motion (class 0 moves up and class 1 left,
as in MoCoGAN's data; up to 8 classes use the other directions and the diagonals).

Clip ``index`` of a seed is a pure function of ``(seed, index)``: any clip can be made alone,
in any order, on any worker. :func:`write_shape_motion` stores clips in the strip format
(:mod:`vidgan.data.video_datasets`) that MoCoGAN's own data uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidgan.io.images import write_image
from vidgan.progress import progress

#: Unit direction (dx, dy) of each class, image coordinates (y grows downwards).
DIRECTIONS: tuple[tuple[float, float], ...] = (
    (0.0, -1.0),  # 0 up (MoCoGAN's class 0)
    (-1.0, 0.0),  # 1 left (MoCoGAN's class 1)
    (0.0, 1.0),  # 2 down
    (1.0, 0.0),  # 3 right
    (-0.7071, -0.7071),  # 4 up-left
    (0.7071, 0.7071),  # 5 down-right
    (0.7071, -0.7071),  # 6 up-right
    (-0.7071, 0.7071),  # 7 down-left
)
#: Side of the shape (circle diameter or square side) as a fraction of the image size; MoCoGAN's
#: shapes are 7-14 px on 64x64.
SHAPE_SIZES = (0.11, 0.22)


@dataclass(frozen=True)
class ShapeClip:
    """One generated clip: frames ``(T, H, W, 3)`` uint8, its class and what was drawn."""

    frames: np.ndarray
    category: int
    shape: str  # "circle" or "square"
    colour: tuple[int, int, int]
    centres: np.ndarray  # (T, 2) x, y of the shape's centre in pixels


def shape_clip(index: int, *, size: int = 64, length: int = 32, num_classes: int = 2, seed: int = 0) -> ShapeClip:
    """Clip ``index`` of the set ``seed``: ``length`` frames of ``size`` x ``size``; its class is
    ``index % num_classes`` (so any run of indices is balanced)."""
    if not 1 <= num_classes <= len(DIRECTIONS):
        raise ValueError(f"num_classes must be in 1..{len(DIRECTIONS)}, got {num_classes}")
    if size < 16 or length < 2:
        raise ValueError(f"need size >= 16 and length >= 2, got size {size}, length {length}")
    rng = np.random.default_rng([seed, index])
    category = index % num_classes
    side = round(float(rng.uniform(*SHAPE_SIZES)) * size)
    shape = "circle" if rng.random() < 0.5 else "square"
    colour = _colour(rng)
    centres = _trajectory(rng, DIRECTIONS[category], size, side, length)
    frames = np.zeros((length, size, size, 3), np.uint8)
    for frame, (x, y) in zip(frames, centres, strict=True):
        _draw(frame, shape, (x, y), side, colour)
    return ShapeClip(frames, category, shape, colour, centres)


def write_shape_motion(
    root: str | os.PathLike[str],
    count: int,
    *,
    size: int = 64,
    length: int = 32,
    num_classes: int = 2,
    seed: int = 0,
) -> Path:
    """Write ``count`` clips as strips ``root/<class>/<index>.png`` (frames side by side, MoCoGAN's
    layout); each file is written atomically. Returns ``root``."""
    root = Path(root)
    for index in progress(range(count), desc="shapes", unit="clip"):
        clip = shape_clip(index, size=size, length=length, num_classes=num_classes, seed=seed)
        strip = np.concatenate(list(clip.frames), axis=1)  # (H, T * W, 3)
        write_image(root / str(clip.category) / f"{index:08d}.png", strip)
    return root


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated, bright colour (clearly apart from the black background)."""
    hue = int(rng.integers(0, 180))
    saturation = int(rng.integers(100, 256))
    value = int(rng.integers(170, 256))
    hsv = np.array([[[hue, saturation, value]]], np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _trajectory(
    rng: np.random.Generator, direction: tuple[float, float], size: int, side: int, length: int
) -> np.ndarray:
    """Centres ``(length, 2)``: a cubic Bezier from the entry edge to the exit edge whose control
    points advance monotonically along ``direction`` and wander across it."""
    margin = side / 2 + 1
    low, high = margin, size - 1 - margin
    forward = np.array(direction)
    across = np.array([-direction[1], direction[0]])
    centre = np.full(2, (size - 1) / 2)
    reach = (high - low) / 2  # from the centre to the edge band, along one axis
    scale = reach / max(abs(forward).max(), 1e-6)  # diagonals reach the corners
    along = np.sort(rng.uniform(-1, 1, 2))
    control = [
        centre + forward * (-scale) + across * rng.uniform(-0.5, 0.5) * reach,
        centre + forward * (along[0] * scale) + across * rng.uniform(-1, 1) * reach,
        centre + forward * (along[1] * scale) + across * rng.uniform(-1, 1) * reach,
        centre + forward * scale + across * rng.uniform(-0.5, 0.5) * reach,
    ]
    t = np.linspace(0, 1, length)[:, None]
    points = (
        (1 - t) ** 3 * control[0] + 3 * (1 - t) ** 2 * t * control[1] + 3 * (1 - t) * t**2 * control[2]
        + t**3 * control[3]
    )
    return np.clip(points, low, high)


def _draw(frame: np.ndarray, shape: str, centre: tuple[float, float], side: int, colour: tuple[int, int, int]) -> None:
    x, y = round(float(centre[0])), round(float(centre[1]))
    if shape == "circle":
        cv2.circle(frame, (x, y), side // 2, colour, -1, lineType=cv2.LINE_8)
    else:
        half = side // 2
        cv2.rectangle(frame, (x - half, y - half), (x - half + side - 1, y - half + side - 1), colour, -1)
