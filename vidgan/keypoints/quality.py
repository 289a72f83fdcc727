"""Temporal quality of keypoint tracks: jitter (normalised acceleration) and lag (frames).

Both skip missing points (NaN): a difference is only taken where every frame it needs is visible.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from vidgan.keypoints.keypoints import Keypoints
from vidgan.keypoints.skeletons import IBUG68, IBUG68_OUTER_EYE_CORNERS


def jitter(keypoints: Keypoints, scale: float | None = None) -> float:
    """Mean magnitude of the second temporal difference ``x[t+1] - 2 x[t] + x[t-1]`` of the
    visible points, divided by ``scale`` pixels.

    Default ``scale``: for ``ibug68`` the mean inter-ocular distance (outer eye corners 36, 45),
    for other skeletons the mean diagonal of the visible points' bounding box, both averaged
    over the frames where they exist. NaN when no point is visible in three consecutive frames.
    """
    xy = keypoints.xy.astype(np.float64)
    if scale is None:
        scale = _size(keypoints)
    elif not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    acceleration = np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=-1)  # (T - 2, K)
    valid = np.isfinite(acceleration)
    if not valid.any() or not np.isfinite(scale):
        return float("nan")
    return float(acceleration[valid].mean() / scale)


def _size(keypoints: Keypoints) -> float:
    """Mean size of the subject in pixels (see :func:`jitter`); NaN if never visible."""
    xy = keypoints.xy.astype(np.float64)
    if keypoints.skeleton.name == IBUG68.name:
        left, right = IBUG68_OUTER_EYE_CORNERS
        per_frame = np.linalg.norm(xy[:, left] - xy[:, right], axis=-1)
    else:
        detected = keypoints.detected_frames
        extent = np.nanmax(xy[detected], axis=1) - np.nanmin(xy[detected], axis=1)  # (T', 2)
        per_frame = np.linalg.norm(extent, axis=-1)
    per_frame = per_frame[np.isfinite(per_frame)]
    return float(per_frame.mean()) if per_frame.size else float("nan")


def lag(
    raw: Keypoints, smoothed: Keypoints, max_lag: int = 10, subframe: bool = True, motion_sigma: float = 2.0
) -> float:
    """Delay of ``smoothed`` behind ``raw`` in frames (positive: smoothed lags behind).

    The motion signals are the frame-to-frame velocities of every visible point and coordinate,
    centred per point and coordinate, and both low-passed by the same zero-phase Gaussian of
    ``motion_sigma`` frames (0: none), so that the raw detector noise, which a causal filter
    echoes at once, does not hide the delay of the motion itself (on the face keypoints of
    bench/smoothing.py the default One Euro filter measures 0.17 frames without it and 0.87 with
    it, as does the best alignment of the positions). The lag is the shift in ``[-max_lag, max_lag]`` that maximises
    their normalised cross-correlation, refined to a fraction of a frame by a parabola through
    the peak when ``subframe``. NaN when the tracks share no moving visible point.
    """
    if raw.points.shape != smoothed.points.shape:
        raise ValueError(f"raw {raw.points.shape} and smoothed {smoothed.points.shape} differ in shape")
    if max_lag < 0 or motion_sigma < 0:
        raise ValueError(f"max_lag and motion_sigma must be >= 0, got {max_lag} and {motion_sigma}")
    a, b = (_motion(track, motion_sigma) for track in (raw, smoothed))
    frames = a.shape[0]
    reach = min(max_lag, frames - 1)  # shifts that leave an overlap
    shifts = np.arange(-reach, reach + 1)
    scores = np.full(shifts.shape, np.nan)
    for i, shift in enumerate(shifts):
        x = a[max(0, -shift) : frames - max(0, shift)]  # raw at t
        y = b[max(0, shift) : frames - max(0, -shift)]  # smoothed at t + shift
        valid = np.isfinite(x) & np.isfinite(y)
        x, y = x[valid], y[valid]
        denominator = np.sqrt(np.dot(x, x) * np.dot(y, y))
        if denominator > 0:
            scores[i] = np.dot(x, y) / denominator
    if np.isnan(scores).all():
        return float("nan")
    best = int(np.nanargmax(scores))
    if subframe and 0 < best < len(shifts) - 1 and np.isfinite(scores[best - 1 : best + 2]).all():
        left, centre, right = scores[best - 1 : best + 2]
        curvature = left - 2 * centre + right
        if curvature < 0:
            return float(shifts[best] + 0.5 * (left - right) / curvature)
    return float(shifts[best])


def _motion(keypoints: Keypoints, sigma: float) -> np.ndarray:
    """``(T - 1, K * 2)`` velocities, centred per point and coordinate and low-passed over time
    by a Gaussian of ``sigma`` frames (normalised over the visible frames); NaN where missing."""
    velocity = np.diff(keypoints.xy.astype(np.float64), axis=0)
    valid = np.isfinite(velocity)
    counts = valid.sum(axis=0)
    velocity = velocity - np.where(counts > 0, np.nansum(velocity, axis=0) / np.maximum(counts, 1), 0.0)
    if sigma > 0:
        values = gaussian_filter1d(np.where(valid, velocity, 0.0), sigma, axis=0, mode="constant")
        weights = gaussian_filter1d(valid.astype(np.float64), sigma, axis=0, mode="constant")
        velocity = np.where(valid, values / np.maximum(weights, 1e-12), np.nan)
    return velocity.reshape(len(velocity), 2 * keypoints.points.shape[1])
