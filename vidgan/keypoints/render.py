"""Batched keypoint renderers on torch tensors: OpenPose skeletons, vid2vid face edges, heatmaps.

Every renderer takes ``points (B, K, 3)`` = x, y (pixels), confidence on any device and draws on
that device. A point is drawn only where its confidence is > 0 and x, y are finite, so both the
NaN form of :class:`Keypoints` and the zero-filled form of :func:`keypoints_to_tensor` work.
Pixel centres lie on integer coordinates (OpenCV's convention); lines are anti-aliased. Outputs
are float32 in [0, 1]; models that want [-1, 1] map them with ``2 * x - 1``.

Rasterisation computes, for each segment, the distance to it of every pixel of the box that
bounds the segment over the batch, all at once (the loop runs over edges, never pixels); later
strokes are painted over earlier ones, as OpenCV draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from vidgan.keypoints.keypoints import Keypoints
from vidgan.keypoints.skeletons import IBUG68, IBUG68_PARTS, Skeleton

_WHITE = (255, 255, 255)


def keypoints_to_tensor(kp: Keypoints, device: torch.device | str | None = None) -> torch.Tensor:
    """``(T, K, 3)`` float32 points of a track, missing points as ``(0, 0, 0)`` (masked by confidence)."""
    return torch.from_numpy(np.nan_to_num(kp.points, nan=0.0)).to(device)


def render_skeleton(
    points: torch.Tensor,
    skeleton: Skeleton,
    size: tuple[int, int],
    thickness: float = 4.0,
    joint_radius: float = 4.0,
) -> torch.Tensor:
    """OpenPose-style pose maps ``(B, 3, H, W)`` in [0, 1] from ``points (B, K, 3)``.

    Limb ``e`` is drawn in ``skeleton.colors[e]`` (white without colours) only where both its
    joints are visible; joint ``k`` is a disc in colour ``k`` drawn over the limbs, as OpenPose does.
    """
    xy, visible = _split(points, skeleton.num_joints)
    palette = _palette(skeleton.colors or (_WHITE,), xy.device)[:, :, None, None]
    canvas = xy.new_zeros(xy.shape[0], 3, *size)
    heads, tails = map(list, zip(*skeleton.edges))
    limbs = _strokes(xy[:, heads], xy[:, tails], visible[:, heads] & visible[:, tails], thickness, size)
    joints = _strokes(xy, xy, visible, 2 * joint_radius, size)
    for strokes in (limbs, joints):
        for index, (rows, columns), alpha in strokes:
            region = canvas[:, :, rows, columns]
            region.copy_(torch.lerp(region, palette[index % len(palette)], alpha[:, None]))
    return canvas


def render_face_edges(points: torch.Tensor, size: tuple[int, int], thickness: float = 2.0) -> torch.Tensor:
    """vid2vid face edge maps ``(B, 1, H, W)`` in [0, 1] from iBUG-68 ``points (B, 68, 3)``.

    Each part of ``IBUG68_PARTS`` is a polyline (closed for eyes and lips); a missing point breaks
    the line: only segments whose two ends are visible are drawn.
    """
    xy, visible = _split(points, IBUG68.num_joints)
    chains = [list(range(a, b)) + ([a] if closed else []) for a, b, closed in IBUG68_PARTS.values()]
    heads = [i for chain in chains for i in chain[:-1]]
    tails = [i for chain in chains for i in chain[1:]]
    strokes = _strokes(xy[:, heads], xy[:, tails], visible[:, heads] & visible[:, tails], thickness, size)
    canvas = xy.new_zeros(xy.shape[0], 1, *size)
    for _, (rows, columns), alpha in strokes:
        region = canvas[:, 0, rows, columns]
        torch.maximum(region, alpha, out=region)
    return canvas


def render_heatmaps(points: torch.Tensor, size: tuple[int, int], sigma: float = 2.0) -> torch.Tensor:
    """Gaussian heatmaps ``(B, K, H, W)`` with peak 1 at each visible point, zero for missing ones."""
    xy, visible = _split(points)
    height, width = size
    xs = torch.arange(width, device=xy.device, dtype=xy.dtype)
    ys = torch.arange(height, device=xy.device, dtype=xy.dtype)
    gx = torch.exp(-((xs - xy[..., 0, None]) ** 2) / (2 * sigma**2))  # (B, K, W)
    gy = torch.exp(-((ys - xy[..., 1, None]) ** 2) / (2 * sigma**2))  # (B, K, H)
    return gy[..., :, None] * gx[..., None, :] * visible[..., None, None]


def _split(points: torch.Tensor, joints: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, K, 3)`` -> float32 ``xy (B, K, 2)`` with missing points at 0, ``visible (B, K)``."""
    if points.ndim != 3 or points.shape[2] != 3 or (joints is not None and points.shape[1] != joints):
        raise ValueError(f"points must be (B, {joints or 'K'}, 3), got {tuple(points.shape)}")
    points = points.float()
    visible = (points[..., 2] > 0) & torch.isfinite(points[..., :2]).all(dim=-1)
    return torch.where(visible[..., None], points[..., :2], 0.0), visible


def _strokes(
    starts: torch.Tensor, ends: torch.Tensor, visible: torch.Tensor, width: float, size: tuple[int, int]
) -> Iterator[tuple[int, tuple[slice, slice], torch.Tensor]]:
    """Rasterise segments ``starts -> ends (B, N, 2)`` of ``width`` pixels, visible where ``visible (B, N)``.

    Yields ``(n, (rows, columns), alpha (B, h, w))`` for each segment visible in some item: its
    anti-aliased coverage inside the box bounding it over the batch (1 inside, a 1-pixel ramp).
    """
    reach = width / 2 + 0.5
    low = torch.where(visible[..., None], torch.minimum(starts, ends), torch.inf).amin(dim=0) - reach
    high = torch.where(visible[..., None], torch.maximum(starts, ends), -torch.inf).amax(dim=0) + reach
    height, width_px = size
    for n, (x0, y0, x1, y1) in enumerate(torch.cat([low, high], dim=-1).tolist()):
        if not math.isfinite(x0):
            continue
        columns = slice(max(math.floor(x0), 0), min(math.ceil(x1) + 1, width_px))
        rows = slice(max(math.floor(y0), 0), min(math.ceil(y1) + 1, height))
        if columns.start >= columns.stop or rows.start >= rows.stop:
            continue
        distance = _distance_to_segment(starts[:, n], ends[:, n], rows, columns)
        alpha = (reach - distance).clamp(0.0, 1.0) * visible[:, n, None, None]
        yield n, (rows, columns), alpha


def _distance_to_segment(start: torch.Tensor, end: torch.Tensor, rows: slice, columns: slice) -> torch.Tensor:
    """Distance of every pixel of a box to the segments ``start -> end (B, 2)``: ``(B, h, w)``."""
    xs = torch.arange(columns.start, columns.stop, device=start.device, dtype=start.dtype)
    ys = torch.arange(rows.start, rows.stop, device=start.device, dtype=start.dtype)[:, None]
    ax, ay = start[:, 0, None, None], start[:, 1, None, None]
    dx, dy = (end - start)[:, 0, None, None], (end - start)[:, 1, None, None]
    along = ((xs - ax) * dx + (ys - ay) * dy) / (dx * dx + dy * dy).clamp_min(1e-12)
    t = along.clamp(0.0, 1.0)
    return torch.hypot(xs - ax - t * dx, ys - ay - t * dy)


def _palette(colors: tuple[tuple[int, int, int], ...], device: torch.device) -> torch.Tensor:
    """RGB uint8 colours -> ``(N, 3)`` float in [0, 1]."""
    return torch.tensor(colors, dtype=torch.float32, device=device) / 255.0


def render_track(keypoints: Keypoints, size: tuple[int, int], *, batch: int = 64) -> np.ndarray:
    """Conditioning maps of a whole track as uint8 ``(T, H, W, C)``, ``keypoints`` in the pixels
    of an ``(H, W)`` frame: body skeletons (:func:`render_skeleton`, C = 3, limbs and joints 4 px
    at 256 px) or iBUG-68 face edges (:func:`render_face_edges`, C = 1, 2 px at 256 px). The same
    maps train and drive a conditioned generator."""
    scale = size[0] / 256
    face = keypoints.skeleton.name == IBUG68.name
    maps = []
    for start in range(0, len(keypoints), batch):
        points = keypoints_to_tensor(keypoints[start : start + batch])
        if face:
            canvas = render_face_edges(points, size, thickness=max(1.0, 2.0 * scale))
        else:
            canvas = render_skeleton(points, keypoints.skeleton, size, thickness=4 * scale, joint_radius=4 * scale)
        maps.append((canvas * 255).round().byte().permute(0, 2, 3, 1).numpy())
    return np.concatenate(maps) if maps else np.zeros((0, *size, 1 if face else 3), np.uint8)
