"""Nearest frames by keypoints: which of a target's frames looks most like a wanted pose.

The nearest-neighbour baseline of motion transfer (show the target frame whose keypoints are
nearest the driving ones) and the reference choice of the reference-warp generator.
"""

from __future__ import annotations

import numpy as np

from vidgan.keypoints.keypoints import present_xy
from vidgan.keypoints.skeletons import IBUG68, Skeleton


def retrieval_weights(skeleton: Skeleton) -> np.ndarray:
    """``(K,)`` weight of each point in the distance: faces weigh the mouth x3 and the eyes x2
    (what an expression changes most), bodies weigh every joint alike."""
    weights = np.ones(skeleton.num_joints, np.float64)
    if skeleton.name == IBUG68.name:
        weights[36:48] = 2.0
        weights[48:68] = 3.0
    return weights


class PoseIndex:
    """The keypoints ``(T, K, 3)`` of a target's frames (x, y, confidence; NaN or confidence 0:
    missing), searched by weighted mean point distance over the points present in both (in
    place: a reference whose head or body stands where the query's does needs the smallest warp;
    aligning the shapes first was tried and chose worse references for faces)."""

    def __init__(self, points: np.ndarray, weights: np.ndarray | None = None, min_common: float = 0.5) -> None:
        points = np.asarray(points, np.float64)
        if points.ndim != 3 or points.shape[-1] < 2 or not len(points):
            raise ValueError(f"keypoints (T, K, 3) of at least one frame expected, got {points.shape}")
        self.xy = present_xy(points)
        self.weights = np.ones(points.shape[1]) if weights is None else np.asarray(weights, np.float64)
        self.min_common = min_common

    @classmethod
    def for_skeleton(cls, points: np.ndarray, skeleton: Skeleton) -> PoseIndex:
        """The index motion transfer uses: :func:`retrieval_weights` of ``skeleton``."""
        return cls(points, retrieval_weights(skeleton))

    def __len__(self) -> int:
        return len(self.xy)

    def distances(self, query: np.ndarray) -> np.ndarray:
        """``(T,)`` weighted mean distance in pixels from ``query (K, 3)`` to every frame
        (inf where fewer than ``min_common`` of the query's present points are shared)."""
        query_xy = present_xy(np.asarray(query, np.float64))
        common = np.isfinite(self.xy - query_xy).all(-1)  # (T, K)
        weights = np.where(common, self.weights, 0.0)
        gaps = np.linalg.norm(self.xy - query_xy, axis=-1)  # (T, K), NaN where either misses
        total = weights.sum(axis=1)
        wanted = np.isfinite(query_xy).all(-1) @ self.weights
        summed = (np.where(common, gaps, 0.0) * weights).sum(axis=1)
        enough = (total > 0) & (total >= self.min_common * max(wanted, 1e-9))
        return np.where(enough, summed / np.maximum(total, 1e-9), np.inf)

    def nearest(self, query: np.ndarray, k: int = 1, *, exclude: np.ndarray | None = None,
                separation: int = 0) -> np.ndarray:
        """Indices ``(k,)`` of the nearest frames, nearest first, each at least ``separation``
        frames from the ones before it (k different looks, not k neighbours of one frame);
        ``exclude (T,)`` bool frames are never chosen. Fewer than ``k`` eligible frames repeat
        the last one found."""
        distances = self.distances(query)
        if exclude is not None:
            distances = np.where(exclude, np.inf, distances)
        return _pick(distances, k, separation)

    def follow(self, queries: np.ndarray, k: int = 1, *, separation: int = 0, stickiness: float = 0.15) -> np.ndarray:
        """``(Q, k)`` references for a sequence of queries ``(Q, K, 3)``: the nearest frames,
        except that the previous choice is kept while it stays within ``1 + stickiness`` times
        the best distance (references that do not flip between near-equal frames make a video
        that does not flicker)."""
        chosen = np.zeros((len(queries), k), np.int64)
        previous: np.ndarray | None = None
        for q, query in enumerate(queries):
            distances = self.distances(query)
            best = _pick(distances, k, separation)
            if previous is not None and np.all(distances[previous] <= (1 + stickiness) * distances[best] + 1e-9):
                best = previous
            chosen[q] = previous = best
        return chosen


def _pick(distances: np.ndarray, k: int, separation: int) -> np.ndarray:
    order = np.argsort(distances, kind="stable")
    chosen: list[int] = []
    for index in order:
        if not np.isfinite(distances[index]) and chosen:
            break
        if all(abs(int(index) - c) >= separation for c in chosen):
            chosen.append(int(index))
            if len(chosen) == k:
                break
    chosen = chosen or [int(order[0])]
    return np.asarray(chosen + [chosen[-1]] * (k - len(chosen)), np.int64)
