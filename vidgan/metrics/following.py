"""Does a generated face or body look like the real thing and follow the driving video?

- :func:`detection_rate`: the share of frames in which keypoints were found at all (a metric
  computed on 6 % of the frames says nothing of the others: report this beside it);
- :func:`mouth_opening` / :func:`mouth_correlation`: the inner-lip gap over the outer-eye-corner
  distance per frame, and how well the result's follows the driving one (Pearson);
- :func:`sharpness` / :func:`sharpness_ratio`: Laplacian energy of a region (the face, the
  body) of generated frames over the same region of real frames: blur and speckle-free mush
  score below 1, real detail near 1.
"""

from __future__ import annotations

import numpy as np
from kornia.color import rgb_to_grayscale
from kornia.filters import laplacian

from vidgan.metrics.frame import Frames, frames_to_tensor
from vidgan.metrics.structure import Points, points_xy
from vidgan.keypoints.skeletons import IBUG68_OUTER_EYE_CORNERS

#: Inner-lip point pairs (upper, lower) of iBUG-68: the mouth's opening is their mean gap.
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))


def detection_rate(points: Points) -> float:
    """Share of frames of ``points (T, K, 2|3)`` with at least one point present."""
    xy = points_xy(points)
    return float(np.isfinite(xy).all(-1).any(-1).mean()) if len(xy) else float("nan")


def mouth_opening(points: Points) -> np.ndarray:
    """``(T,)`` inner-lip gap / outer-eye-corner distance of iBUG-68 points; NaN where missing."""
    xy = points_xy(points)
    if xy.shape[1] != 68:
        raise ValueError(f"mouth_opening needs iBUG-68 points, got {xy.shape[1]} per frame")
    gap = np.mean([np.linalg.norm(xy[:, upper] - xy[:, lower], axis=-1) for upper, lower in INNER_LIP_PAIRS], axis=0)
    left, right = IBUG68_OUTER_EYE_CORNERS
    with np.errstate(divide="ignore", invalid="ignore"):
        return gap / np.linalg.norm(xy[:, left] - xy[:, right], axis=-1)


def mouth_correlation(result: Points, driving: Points) -> float:
    """Pearson correlation of :func:`mouth_opening` of the result and of the (retargeted)
    driving points, over the frames where both are defined; NaN with fewer than 3 such frames
    or a mouth that never moves."""
    a, b = mouth_opening(result), mouth_opening(driving)
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < 3 or np.std(a[both]) == 0 or np.std(b[both]) == 0:
        return float("nan")
    return float(np.corrcoef(a[both], b[both])[0, 1])


def region_masks(points: Points, size: tuple[int, int], margin: float = 0.1) -> np.ndarray:
    """``(T, H, W)`` bool: the bounding box of each frame's present points, grown by ``margin``
    of its size on every side (all False where a frame has no point)."""
    xy = points_xy(points)
    masks = np.zeros((len(xy), *size), bool)
    for t, frame in enumerate(xy):
        present = frame[np.isfinite(frame).all(-1)]
        if not len(present):
            continue
        (x0, y0), (x1, y1) = present.min(0), present.max(0)
        dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
        left, top = max(0, int(np.floor(x0 - dx))), max(0, int(np.floor(y0 - dy)))
        masks[t, top : int(np.ceil(y1 + dy)) + 1, left : int(np.ceil(x1 + dx)) + 1] = True
    return masks


def sharpness(frames: Frames, masks: np.ndarray | None = None) -> np.ndarray:
    """``(T,)`` mean squared Laplacian (3x3) of the grey frames on [0, 255], inside ``masks
    (T, H, W)`` (default: everywhere); NaN for an empty mask."""
    grey = rgb_to_grayscale(frames_to_tensor(frames)) * 255
    energy = laplacian(grey, 3, normalized=False).square()[:, 0].numpy()
    region = np.ones(energy.shape, bool) if masks is None else np.asarray(masks, bool)
    if region.shape != energy.shape:
        raise ValueError(f"masks {region.shape} and frames {energy.shape} differ in (T, H, W)")
    counts = region.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(region, energy, 0).sum(axis=(1, 2)) / counts


def sharpness_ratio(result: Frames, real: Frames, result_masks: np.ndarray | None = None,
                    real_masks: np.ndarray | None = None) -> float:
    """Mean :func:`sharpness` of ``result`` in its regions over that of ``real`` in theirs
    (the two need not be the same frames: a real target's frames against the generated ones)."""
    generated, reference = sharpness(result, result_masks), sharpness(real, real_masks)
    return float(np.nanmean(generated) / np.nanmean(reference))
