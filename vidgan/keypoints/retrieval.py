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
    missing), searched by weighted mean point distance over the points present in both.

    ``align``: each frame's points are first moved onto the query's by their best similarity
    (least squares on the common points): the distance then measures the shape (a face's
    expression) and not where the head is or how large; a warp moves and scales a reference
    anyway."""

    def __init__(self, points: np.ndarray, weights: np.ndarray | None = None, min_common: float = 0.5,
                 align: bool = False) -> None:
        points = np.asarray(points, np.float64)
        if points.ndim != 3 or points.shape[-1] < 2 or not len(points):
            raise ValueError(f"keypoints (T, K, 3) of at least one frame expected, got {points.shape}")
        self.xy = present_xy(points)
        self.weights = np.ones(points.shape[1]) if weights is None else np.asarray(weights, np.float64)
        self.min_common = min_common
        self.align = align

    @classmethod
    def for_skeleton(cls, points: np.ndarray, skeleton: Skeleton) -> PoseIndex:
        """The index motion transfer uses: :func:`retrieval_weights`; faces aligned (their
        expression is what is searched), bodies not (where the dancer stands matters)."""
        return cls(points, retrieval_weights(skeleton), align=skeleton.name == IBUG68.name)

    def __len__(self) -> int:
        return len(self.xy)

    def distances(self, query: np.ndarray) -> np.ndarray:
        """``(T,)`` weighted mean distance in pixels from ``query (K, 3)`` to every frame
        (inf where fewer than ``min_common`` of the query's present points are shared)."""
        query_xy = present_xy(np.asarray(query, np.float64))
        common = np.isfinite(self.xy - query_xy).all(-1)  # (T, K)
        weights = np.where(common, self.weights, 0.0)
        frames = _aligned(self.xy, query_xy, weights) if self.align else self.xy
        gaps = np.linalg.norm(frames - query_xy, axis=-1)  # (T, K), NaN where either misses
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


def _aligned(frames: np.ndarray, query: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``frames (T, K, 2)`` each moved by the similarity that best takes its points onto
    ``query (K, 2)`` (weighted least squares over ``weights (T, K)``, 0 where either misses)."""
    p = np.nan_to_num(frames[..., 0] + 1j * frames[..., 1])
    q = np.nan_to_num(query[..., 0] + 1j * query[..., 1])
    total = np.maximum(weights.sum(1, keepdims=True), 1e-9)
    p_mean, q_mean = (weights * p).sum(1, keepdims=True) / total, (weights * q).sum(1, keepdims=True) / total
    pc, qc = p - p_mean, q - q_mean
    scale = (weights * np.conj(pc) * qc).sum(1, keepdims=True) / np.maximum((weights * np.abs(pc) ** 2).sum(1, keepdims=True), 1e-9)
    moved = scale * pc + q_mean
    return np.where(np.isfinite(frames), np.stack([moved.real, moved.imag], -1), np.nan)


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
