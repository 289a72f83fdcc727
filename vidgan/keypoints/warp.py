"""Warping a reference image so that its keypoints land on other keypoints.

:func:`tps_warp` moves a reference frame's face landmarks or body joints onto a driving pose
with a thin-plate spline (kornia's): the few-shot vid2vid idea of starting a frame from the
target's own pixels instead of drawing them from a pose map. Points are pixels of the frames
(x, y); NaN marks a missing point, which takes no part in that sample's warp.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from kornia.geometry.transform import warp_points_tps
from kornia.geometry import create_meshgrid
from torch import Tensor

from vidgan.keypoints.keypoints import present_xy

#: Control points closer than this (pixels) to a kept one are dropped: two coincident centres
#: (the inner lips of a closed mouth) make the spline's linear system singular.
MIN_SEPARATION = 1.0


def grid_anchors(size: tuple[int, int], per_side: int = 8) -> Tensor:
    """``(per_side ** 2, 2)`` pixel points on a regular grid over the frame, border included:
    the candidates for points a warp keeps in place."""
    height, width = size
    ys, xs = torch.meshgrid(torch.linspace(0, height - 1, per_side), torch.linspace(0, width - 1, per_side),
                            indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def tps_warp(
    images: Tensor, source_points: Tensor, target_points: Tensor, *, anchors: int = 8, reach: float = 0.3
) -> tuple[Tensor, Tensor]:
    """Warp ``images (B, C, H, W)`` so that ``source_points (B, N, 2)`` (pixels of the images)
    move to ``target_points (B, N, 2)`` (pixels of the output, same size).

    A point missing (NaN) in either set is left out of its sample's spline. The background stays
    where it is: the points of an ``anchors`` x ``anchors`` grid over the frame (0: none) on its
    border or farther than ``reach`` times the keypoints' extent (the larger side of their
    bounding box) from every keypoint of either set are fixed. A sample with fewer than three usable points is
    returned unwarped. Returns the warped images and their coverage ``(B, 1, H, W)``: 1 where
    the output samples inside the source image, 0 where it falls outside (zeros there).
    """
    if images.dim() != 4 or source_points.shape != target_points.shape or source_points.shape[-1] != 2:
        raise ValueError(f"images (B, C, H, W) and point sets (B, N, 2) expected, got {tuple(images.shape)}, "
                         f"{tuple(source_points.shape)} and {tuple(target_points.shape)}")
    height, width = images.shape[-2:]
    dtype = torch.promote_types(images.dtype, torch.float32)
    grid = grid_anchors((height, width), anchors).to(images.device, dtype) if anchors else None
    scale = torch.tensor([2 / width, 2 / height], device=images.device, dtype=dtype)
    identity = create_meshgrid(height, width, normalized_coordinates=True, device=images.device, dtype=dtype,
                               align_corners=False).reshape(1, -1, 2)
    grids = []
    for source, target in zip(source_points.to(dtype), target_points.to(dtype), strict=True):
        source, target = _control_points(source, target, grid, reach)
        if len(source) < 3:
            grids.append(identity[0])
            continue
        source_n, target_n = (source + 0.5) * scale - 1, (target + 0.5) * scale - 1
        kernel, affine = _tps_weights(target_n, source_n)
        grids.append(warp_points_tps(identity, target_n[None], kernel[None], affine[None])[0])
    grid = torch.stack(grids).view(-1, height, width, 2)
    solid = torch.cat([images.to(dtype), torch.ones_like(images[:, :1], dtype=dtype)], dim=1)
    # Bicubic: a warp resamples every pixel once more, and bilinear sampling visibly softens it.
    result = F.grid_sample(solid, grid, mode="bicubic", padding_mode="zeros", align_corners=False)
    low, high = images.amin(dim=(1, 2, 3), keepdim=True).to(dtype), images.amax(dim=(1, 2, 3), keepdim=True).to(dtype)
    warped = torch.minimum(torch.maximum(result[:, :-1], low), high)  # no bicubic overshoot
    return warped.to(images.dtype), (result[:, -1:] > 0.5).to(images.dtype)


def unseen_openings(driving: Tensor, reference: Tensor, contour: tuple[int, ...], size: tuple[int, int],
                    ratio: float = 0.5) -> Tensor:
    """``(B, 1, H, W)``: 1 inside the driving ``contour`` (keypoint indices in order around a
    region, such as the inner lips) where the reference's region is less than ``ratio`` as open
    (its area over the keypoints' extent squared), else 0. A warp stretches what a closed mouth
    shows over an open one: those pixels must be drawn, not warped. ``driving`` and ``reference``
    ``(B, K, 2)`` pixels; a contour with a missing point opens nothing."""
    def opening(points: Tensor) -> Tensor:
        polygon = points[:, list(contour)]
        x, y = polygon[..., 0], polygon[..., 1]
        area = 0.5 * (x * y.roll(-1, 1) - x.roll(-1, 1) * y).sum(1).abs()
        finite = torch.isfinite(points).all(-1, keepdim=True)
        extent = (torch.where(finite, points, -torch.inf).amax(1) - torch.where(finite, points, torch.inf).amin(1)).amax(-1)
        return area / extent.square().clamp_min(1e-6)

    polygon = driving[:, list(contour)]
    unseen = torch.isfinite(polygon).all(-1).all(-1) & (opening(reference).nan_to_num(0.0) < ratio * opening(driving))
    ys, xs = torch.meshgrid(torch.arange(size[0], device=driving.device, dtype=driving.dtype),
                            torch.arange(size[1], device=driving.device, dtype=driving.dtype), indexing="ij")
    px, py = xs.reshape(1, 1, -1), ys.reshape(1, 1, -1)  # pixel centres, in keypoint pixels
    x0, y0 = polygon[..., 0:1], polygon[..., 1:2]
    x1, y1 = x0.roll(-1, 1), y0.roll(-1, 1)
    crosses = ((y0 > py) != (y1 > py)) & (px < (x1 - x0) * (py - y0) / (y1 - y0 + 1e-12) + x0)
    inside = crosses.sum(1) % 2 == 1
    return (inside & unseen[:, None]).reshape(-1, 1, *size).to(driving.dtype)


def _tps_weights(centres: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """The thin-plate spline ``f`` with ``f(centres) = values`` (both ``(N, 2)``) and minimum
    bending energy: kernel weights ``(N, 2)`` and affine weights ``(3, 2)`` as kornia's
    ``warp_points_tps`` evaluates them. (kornia's own ``get_tps_transform`` puts the kernels on
    the values instead of the centres: it interpolates too, but bends wildly between points
    once a point moves by more than its neighbours' spacing.)"""
    count = len(centres)
    squared = torch.cdist(centres, centres).square()
    kernel = torch.where(squared > 0, 0.5 * squared * torch.log(squared.clamp_min(1e-12)), torch.zeros_like(squared))
    affine = torch.cat([torch.ones_like(centres[:, :1]), centres], dim=1)
    system = centres.new_zeros(count + 3, count + 3)
    system[:count, :count], system[:count, count:], system[count:, :count] = kernel, affine, affine.T
    right = torch.cat([values, values.new_zeros(3, 2)])
    weights = torch.linalg.solve(system.double(), right.double()).to(values.dtype)
    return weights[:count], weights[count:]


def _control_points(source: Tensor, target: Tensor, grid: Tensor | None, reach: float) -> tuple[Tensor, Tensor]:
    """The usable pairs of one sample: both points present, plus the fixed grid points far from
    them (:func:`tps_warp`), none within :data:`MIN_SEPARATION` of an earlier one (either set)."""
    usable = torch.isfinite(source).all(-1) & torch.isfinite(target).all(-1)
    source, target = source[usable], target[usable]
    if grid is not None and len(source):
        points = torch.cat([source, target])
        extent = (points.amax(0) - points.amin(0)).max()
        border = (grid == 0).any(1) | (grid[:, 0] == grid[:, 0].max()) | (grid[:, 1] == grid[:, 1].max())
        fixed = grid[border | (torch.cdist(grid, points).amin(1) > reach * extent)]
        source, target = torch.cat([fixed, source]), torch.cat([fixed, target])
    close = (torch.cdist(source, source) < MIN_SEPARATION) | (torch.cdist(target, target) < MIN_SEPARATION)
    close = close.cpu().numpy()
    keep: list[int] = []
    for i in range(len(source)):
        if not close[i, keep].any():
            keep.append(i)
    return source[keep], target[keep]


def warp_frames(
    frames: np.ndarray, points: np.ndarray, chosen: np.ndarray, wanted: np.ndarray, *, batch: int = 16
) -> Iterator[np.ndarray]:
    """Frame ``chosen[t]`` of ``frames (N, H, W, 3)`` uint8 (keypoints ``points (N, K, 3)``)
    warped onto ``wanted[t] (K, 3)`` for every t of ``chosen (T,)``, ``batch`` at a time, as
    uint8 ``(b, H, W, 3)``: the warp-only baseline of motion transfer (no network)."""
    source_xy, target_xy = present_xy(points).astype(np.float32), present_xy(wanted).astype(np.float32)
    for start in range(0, len(chosen), batch):
        picked = chosen[start : start + batch]
        images = torch.from_numpy(frames[picked]).permute(0, 3, 1, 2).float()
        warped, _ = tps_warp(images, torch.from_numpy(source_xy[picked]),
                             torch.from_numpy(target_xy[start : start + batch]))
        yield warped.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
