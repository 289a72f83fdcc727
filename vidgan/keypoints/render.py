"""Batched keypoint renderers on torch tensors: OpenPose skeletons, vid2vid face edges, heatmaps.

Every renderer takes ``points (B, K, 3)`` = x, y (pixels), confidence on any device and draws on
that device. A point is drawn only where its confidence is > 0 and x, y are finite, so both the
NaN form of :class:`Keypoints` and the zero-filled form of :func:`keypoints_to_tensor` work.
Pixel centres lie on integer coordinates (OpenCV's convention); lines are anti-aliased. Outputs
are float32 in [0, 1]; models that want [-1, 1] map them with ``2 * x - 1``.

Rasterisation computes, for each segment, the distance of every pixel to it at once (the loop
runs over edges, never pixels); memory stays ``O(B * H * W)`` per edge drawn.
"""

from __future__ import annotations

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
    palette = _palette(skeleton.colors or (_WHITE,), xy.device)
    canvas = xy.new_zeros(xy.shape[0], 3, *size)
    for edge, (i, j) in enumerate(skeleton.edges):
        alpha = _coverage(_distance_to_segments(xy[:, i], xy[:, j], size), thickness)
        canvas = _paint(canvas, alpha * _as_image_mask(visible[:, i] & visible[:, j]), palette[edge % len(palette)])
    for k in range(skeleton.num_joints):
        alpha = _coverage(_distance_to_segments(xy[:, k], xy[:, k], size), 2 * joint_radius)
        canvas = _paint(canvas, alpha * _as_image_mask(visible[:, k]), palette[k % len(palette)])
    return canvas


def render_face_edges(points: torch.Tensor, size: tuple[int, int], thickness: float = 2.0) -> torch.Tensor:
    """vid2vid face edge maps ``(B, 1, H, W)`` in [0, 1] from iBUG-68 ``points (B, 68, 3)``.

    Each part of ``IBUG68_PARTS`` is a polyline (closed for eyes and lips); a missing point breaks
    the line: only segments whose two ends are visible are drawn.
    """
    xy, visible = _split(points, IBUG68.num_joints)
    canvas = xy.new_zeros(xy.shape[0], *size)
    for start, stop, closed in IBUG68_PARTS.values():
        chain = list(range(start, stop)) + ([start] if closed else [])
        heads, tails = chain[:-1], chain[1:]
        alpha = _coverage(_distance_to_segments(xy[:, heads], xy[:, tails], size), thickness)
        alpha = alpha * (visible[:, heads] & visible[:, tails])[..., None, None]
        canvas = torch.maximum(canvas, alpha.amax(dim=1))
    return canvas[:, None]


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


def _distance_to_segments(start: torch.Tensor, end: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Distance of every pixel to segments ``start -> end`` ``(..., 2)``: ``(..., H, W)``."""
    height, width = size
    xs = torch.arange(width, device=start.device, dtype=start.dtype)
    ys = torch.arange(height, device=start.device, dtype=start.dtype)[:, None]
    ax, ay = start[..., 0, None, None], start[..., 1, None, None]
    dx, dy = (end - start)[..., 0, None, None], (end - start)[..., 1, None, None]
    along = ((xs - ax) * dx + (ys - ay) * dy) / (dx * dx + dy * dy).clamp_min(1e-12)
    t = along.clamp(0.0, 1.0)
    return torch.hypot(xs - ax - t * dx, ys - ay - t * dy)


def _coverage(distance: torch.Tensor, width: float) -> torch.Tensor:
    """Anti-aliased coverage of a stroke ``width`` pixels wide: 1 inside, a 1-pixel ramp at its edge."""
    return (width / 2 + 0.5 - distance).clamp(0.0, 1.0)


def _paint(canvas: torch.Tensor, alpha: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """Paint ``color (3,)`` over ``canvas (B, 3, H, W)`` with ``alpha (B, H, W)``."""
    return torch.lerp(canvas, color[None, :, None, None], alpha[:, None])


def _as_image_mask(mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool -> ``(B, 1, 1)`` float, to switch whole strokes on or off."""
    return mask.float()[:, None, None]


def _palette(colors: tuple[tuple[int, int, int], ...], device: torch.device) -> torch.Tensor:
    """RGB uint8 colours -> ``(N, 3)`` float in [0, 1]."""
    return torch.tensor(colors, dtype=torch.float32, device=device) / 255.0
