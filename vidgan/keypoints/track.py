"""Tracking boxes across frames by IoU, with stable per-track crop boxes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a (N, >=4)`` and ``b (M, >=4)`` -> ``(N, M)``."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Track:
    """One tracked object: ``boxes (T, 5)`` over all frames so far, NaN where unseen."""

    track_id: int
    boxes: list[np.ndarray] = field(default_factory=list)
    missed: int = 0

    @property
    def last_box(self) -> np.ndarray:
        return next(box for box in reversed(self.boxes) if np.isfinite(box[0]))


class IoUTracker:
    """Associate per-frame detections into tracks.

    Detections match live tracks by IoU (Hungarian assignment) when IoU >= ``min_iou``, else by
    centre distance below ``max_centre_shift`` box sizes. A track unseen for ``max_missed``
    frames ends; a later detection there starts a new track. ``max_tracks`` keeps the tracks
    with the largest mean box area (the primary-person policy when it is 1).
    """

    def __init__(self, *, min_iou: float = 0.3, max_centre_shift: float = 0.5, max_missed: int = 15) -> None:
        self.min_iou, self.max_centre_shift, self.max_missed = min_iou, max_centre_shift, max_missed
        self.tracks: list[Track] = []
        self.frames = 0

    def update(self, boxes: np.ndarray) -> list[int]:
        """Add one frame's boxes ``(N, 5)``; returns the track id given to each box."""
        live = [t for t in self.tracks if t.missed <= self.max_missed]
        ids = [-1] * len(boxes)
        if live and len(boxes):
            previous = np.stack([t.last_box for t in live])
            cost = 1.0 - box_iou(boxes, previous)
            size = np.sqrt((previous[:, 2] - previous[:, 0]) * (previous[:, 3] - previous[:, 1]))
            shift = np.linalg.norm(_centres(boxes)[:, None] - _centres(previous)[None], axis=-1) / size[None]
            allowed = (cost <= 1.0 - self.min_iou) | (shift <= self.max_centre_shift)
            rows, cols = linear_sum_assignment(np.where(allowed, cost + shift, 1e6))
            for row, col in zip(rows, cols):
                if allowed[row, col]:
                    ids[row] = live[col].track_id
        for row in range(len(boxes)):
            if ids[row] < 0:
                track = Track(len(self.tracks), [np.full(5, np.nan, np.float32)] * self.frames)
                self.tracks.append(track)
                ids[row] = track.track_id
        by_id = {track_id: boxes[row] for row, track_id in enumerate(ids)}
        for track in self.tracks:
            box = by_id.get(track.track_id)
            track.boxes.append(np.asarray(box, np.float32) if box is not None else np.full(5, np.nan, np.float32))
            track.missed = 0 if box is not None else track.missed + 1
        self.frames += 1
        return ids

    def track_boxes(self, max_tracks: int | None = None) -> dict[int, np.ndarray]:
        """``{track_id: boxes (T, 5)}``, NaN rows where the track was not seen; the
        ``max_tracks`` most present tracks when given (box side, the square root of its area,
        summed over the frames that show it: the main face is large *and* on screen, not a
        large face seen for a moment)."""
        result = {t.track_id: np.stack(t.boxes) for t in self.tracks}
        if max_tracks is not None:
            presence = {i: np.nansum(np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))) for i, b in result.items()}
            keep = sorted(result, key=lambda i: -presence[i])[:max_tracks]
            result = {i: result[i] for i in sorted(keep)}
        return result


def stable_crop_boxes(boxes: np.ndarray, *, scale: float = 1.5, window: int = 9) -> np.ndarray:
    """Square crop boxes ``(T, 4)`` around a track's boxes ``(T, >=4)``: centre and size are
    median-filtered (outliers out), then averaged, over ``window`` frames, so the crop does not
    shake; enlarged by ``scale``; NaN where the track is unseen."""
    centres = _centres(boxes)
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * scale
    values = np.concatenate([centres, sizes[:, None]], axis=1)
    seen = np.isfinite(values[:, 0])
    smooth = _windowed(_windowed(values, seen, window, np.nanmedian), seen, window, np.nanmean)
    cx, cy, size = smooth.T
    return np.stack([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2], axis=1)


def _windowed(values: np.ndarray, seen: np.ndarray, window: int, reduce) -> np.ndarray:
    half = window // 2
    result = np.full_like(values, np.nan)
    for t in np.flatnonzero(seen):
        result[t] = reduce(values[max(0, t - half) : t + half + 1], axis=0)
    return result


def _centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
