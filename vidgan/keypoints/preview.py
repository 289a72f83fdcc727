"""Preview videos: the keypoints drawn over the frames they came from.

Drawn with OpenCV on the uint8 frames (anti-aliased lines), which is ~100x faster at full video
resolution than the differentiable tensor renderers of :mod:`vidgan.keypoints.render` that make
model inputs; the colours are the same (the skeleton's).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vidgan.io import VideoReader, VideoWriter
from vidgan.keypoints.keypoints import Keypoints
from vidgan.keypoints.skeletons import Skeleton
from vidgan.progress import progress

_WHITE = (255, 255, 255)


def draw_keypoints(frame: np.ndarray, points: np.ndarray, skeleton: Skeleton, thickness: int = 2) -> np.ndarray:
    """A copy of RGB ``frame (H, W, 3)`` with ``points (K, 3)`` drawn: limbs whose two joints
    are visible, then the visible joints."""
    canvas = frame.copy()
    colors = skeleton.colors or (_WHITE,)
    visible = (points[:, 2] > 0) & np.isfinite(points[:, :2]).all(axis=1)
    xy = np.nan_to_num(points[:, :2] * 16).astype(np.int64)  # 4 bits of sub-pixel precision
    for edge, (i, j) in enumerate(skeleton.edges):
        if visible[i] and visible[j]:
            cv2.line(canvas, tuple(xy[i]), tuple(xy[j]), colors[edge % len(colors)], thickness, cv2.LINE_AA, 4)
    for k in np.flatnonzero(visible):
        cv2.circle(canvas, tuple(xy[k]), thickness * 16, colors[k % len(colors)], -1, cv2.LINE_AA, 4)
    return canvas


def write_preview(video: str | os.PathLike[str], tracks: list[Keypoints], target: str | os.PathLike[str]) -> Path:
    """Encode ``video`` with every track drawn over it (frames without keypoints pass through
    unchanged), keeping the video's audio."""
    reader = VideoReader(video)
    rows = [{int(index): row for row, index in enumerate(track.frame_index)} for track in tracks]
    thickness = max(1, round(min(reader.info.size) / 240))
    with VideoWriter(target, reader.info.fps, crf=23, preset="veryfast",
                     audio_from=reader.path if reader.info.has_audio else None) as writer:
        for index, frame in progress(reader.indexed_frames(), total=len(reader), desc="preview"):
            for track, row in zip(tracks, rows):
                if index in row:
                    frame = draw_keypoints(frame, track.points[row[index]], track.skeleton, thickness)
            writer.write(frame)
    return Path(target)
