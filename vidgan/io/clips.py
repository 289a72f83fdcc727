"""Fixed-size clips cut from a stream of indexed frames."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Clip:
    """Consecutive frames of one video: ``frames`` is ``(T, H, W, 3)`` RGB uint8 and
    ``frame_index`` ``(T,)`` their indices in the source."""

    video_id: str
    frame_index: np.ndarray
    frames: np.ndarray
    fps: Fraction


def cut_clips(
    indexed_frames: Iterable[tuple[int, np.ndarray]],
    *,
    video_id: str,
    fps: Fraction,
    length: int,
    stride: int | None = None,
    drop_last: bool = False,
) -> Iterator[Clip]:
    """Group ``(index, frame)`` pairs into clips of ``length`` frames starting ``stride`` apart
    (default: no overlap). Holds ``length`` frames at a time. The last clip is shorter unless
    ``drop_last``; it is emitted only if it holds frames no earlier clip held."""
    if length < 1:
        raise ValueError("clip length must be >= 1")
    stride = length if stride is None else stride
    if stride < 1:
        raise ValueError("clip stride must be >= 1")

    def clip(items) -> Clip:
        indices = np.fromiter((index for index, _ in items), dtype=np.int64)
        return Clip(video_id, indices, np.stack([frame for _, frame in items]), fps)

    window: collections.deque[tuple[int, np.ndarray]] = collections.deque(maxlen=length)
    next_start: int | None = None
    emitted_until = -1
    for index, frame in indexed_frames:
        next_start = index if next_start is None else next_start
        window.append((index, frame))
        if len(window) == length and window[0][0] >= next_start:
            yield clip(window)
            next_start, emitted_until = window[0][0] + stride, index
    pending = [item for item in window if next_start is not None and item[0] >= next_start]
    if pending and pending[-1][0] > emitted_until and not drop_last:
        yield clip(pending)
