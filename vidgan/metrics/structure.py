"""Does the generated video follow the driving pose? PCK and face NME of keypoints.

``predicted``: keypoints re-extracted from the generated frames; ``target``: the driving (or
real) keypoints. Each is a :class:`~vidgan.keypoints.Keypoints` or an array ``(T, K, 2)`` /
``(T, K, 3)`` (x, y[, confidence]; a point is missing where it is NaN or its confidence is <= 0).
"""

from __future__ import annotations

import numpy as np

from vidgan.keypoints.keypoints import Keypoints, present_xy
from vidgan.keypoints.skeletons import IBUG68, IBUG68_OUTER_EYE_CORNERS

Points = Keypoints | np.ndarray


def points_xy(points: Points) -> np.ndarray:
    """``(T, K, 2)`` float64 coordinates of a track or array, NaN where missing."""
    if isinstance(points, Keypoints):
        return points.xy.astype(np.float64)
    array = np.asarray(points, np.float64)
    if array.ndim != 3:
        raise ValueError(f"keypoints must be (T, K, 2) or (T, K, 3), got {array.shape}")
    return present_xy(array)


def _pair(predicted: Points, target: Points) -> tuple[np.ndarray, np.ndarray]:
    p, t = points_xy(predicted), points_xy(target)
    if p.shape != t.shape:
        raise ValueError(f"predicted {p.shape[:2]} and target {t.shape[:2]} keypoints differ in (T, K)")
    return p, t


def pck(predicted: Points, target: Points, alpha: float = 0.1) -> float:
    """Percentage of correct keypoints, in [0, 1]: the fraction of visible target points whose
    prediction lies within ``alpha * max(height, width)`` of the bounding box of that frame's
    visible target points (Yang & Ramanan 2013).

    Target points that are missing are ignored; a missing prediction of a visible target point
    counts as wrong. NaN when no target point is visible.
    """
    p, t = _pair(predicted, target)
    visible = np.isfinite(t).all(axis=-1)  # (T, K)
    frames = visible.any(axis=1)
    if not frames.any():
        return float("nan")
    p, t, visible = p[frames], t[frames], visible[frames]
    extent = np.nanmax(t, axis=1) - np.nanmin(t, axis=1)  # (T', 2) bounding box of the visible points
    threshold = alpha * extent.max(axis=1)
    with np.errstate(invalid="ignore"):  # a missing prediction: NaN distance, not correct
        correct = np.linalg.norm(p - t, axis=-1) <= threshold[:, None]
    return float(correct[visible].mean())


def nme(predicted: Points, target: Points) -> float:
    """Normalised mean error of iBUG-68 face keypoints: per frame, the mean distance of the
    points visible in both, divided by the target's inter-ocular distance (outer eye corners
    36 and 45); averaged over the frames where both are defined. NaN when none is."""
    for points in (predicted, target):
        if isinstance(points, Keypoints) and points.skeleton.name != IBUG68.name:
            raise ValueError(f"nme needs ibug68 keypoints, got {points.skeleton.name}")
    p, t = _pair(predicted, target)
    if t.shape[1] != IBUG68.num_joints:
        raise ValueError(f"nme needs {IBUG68.num_joints} iBUG-68 points per frame, got {t.shape[1]}")
    left, right = IBUG68_OUTER_EYE_CORNERS
    interocular = np.linalg.norm(t[:, left] - t[:, right], axis=-1)  # (T,)
    distance = np.linalg.norm(p - t, axis=-1)  # (T, K)
    seen = np.isfinite(distance)
    counts = seen.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_frame = np.where(seen, distance, 0.0).sum(axis=1) / np.maximum(counts, 1) / interocular
    defined = (counts > 0) & np.isfinite(per_frame) & (interocular > 0)
    return float(per_frame[defined].mean()) if defined.any() else float("nan")
