"""Nearest frames by keypoints: which of a target's frames looks most like a wanted pose.

The nearest-neighbour baseline of motion transfer (show the target frame whose keypoints are
nearest the driving ones) and the reference choice of the reference-warp generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vidgan.keypoints.align import apply_transform, estimate_similarity
from vidgan.keypoints.keypoints import present_xy
from vidgan.keypoints.skeletons import IBUG68, Skeleton

#: iBUG-68 points that move with the head but hardly with expressions: nose bridge, eye corners.
STABLE_FACE_POINTS = (27, 28, 29, 30, 36, 39, 42, 45)
#: How much more a face's expression distance (eyes and mouth, head pose removed) counts than its
#: in-place distance: the warp moves a head, it cannot change a frown into a smile.
EXPRESSION_WEIGHT = 1.0


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
    aligning the shapes alone was tried and chose worse references for faces).

    ``expression (K,)``: point weights of a second term, the same distance once every frame's
    ``stable`` points are moved by a similarity onto their mean, added ``expression_weight``
    times: how far the expressions are apart whatever the head pose (a tilted smile then finds a
    smile, not a tilted frown)."""

    def __init__(self, points: np.ndarray, weights: np.ndarray | None = None, min_common: float = 0.5, *,
                 expression: np.ndarray | None = None, stable: Sequence[int] = (),
                 expression_weight: float = 1.0) -> None:
        points = np.asarray(points, np.float64)
        if points.ndim != 3 or points.shape[-1] < 2 or not len(points):
            raise ValueError(f"keypoints (T, K, 3) of at least one frame expected, got {points.shape}")
        self.xy = present_xy(points)
        self.weights = np.ones(points.shape[1]) if weights is None else np.asarray(weights, np.float64)
        self.min_common = min_common
        self.expression = None if expression is None else np.asarray(expression, np.float64)
        self.stable, self.expression_weight = list(stable), expression_weight
        if self.expression is not None:
            self.canonical = np.nanmean(self.xy[:, self.stable], axis=0)  # (S, 2), pixels
            self.expression_xy = self._posed_alike(self.xy)

    @classmethod
    def for_skeleton(cls, points: np.ndarray, skeleton: Skeleton) -> PoseIndex:
        """The index motion transfer uses: :func:`retrieval_weights` of ``skeleton``; faces add
        the expression term on the eyes and mouth."""
        weights = retrieval_weights(skeleton)
        if skeleton.name != IBUG68.name:
            return cls(points, weights)
        expression = np.where(np.arange(skeleton.num_joints) >= 36, weights, 0.0)
        return cls(points, weights, expression=expression, stable=STABLE_FACE_POINTS,
                   expression_weight=EXPRESSION_WEIGHT)

    def _posed_alike(self, xy: np.ndarray) -> np.ndarray:
        """``(N, K, 2)`` points moved by the similarity that takes their stable points onto the
        bank's mean ones (NaN where too few stable points are present)."""
        source = torch.from_numpy(xy[:, self.stable])
        usable = np.isfinite(xy[:, self.stable]).all(-1).sum(-1) >= 3
        moved = np.full_like(xy, np.nan)
        if usable.any():
            transforms = estimate_similarity(source[usable], torch.from_numpy(self.canonical))
            moved[usable] = apply_transform(transforms, torch.from_numpy(xy[usable])).numpy()
        return moved

    def __len__(self) -> int:
        return len(self.xy)

    def distances(self, query: np.ndarray) -> np.ndarray:
        """``(T,)`` weighted mean distance in pixels from ``query (K, 3)`` to every frame
        (inf where fewer than ``min_common`` of the query's present points are shared)."""
        query_xy = present_xy(np.asarray(query, np.float64))
        distances = self._mean_gaps(self.xy, query_xy, self.weights)
        if self.expression is not None:
            expression = self._mean_gaps(self.expression_xy, self._posed_alike(query_xy[None])[0], self.expression)
            distances = np.where(np.isfinite(expression), distances + self.expression_weight * expression, distances)
        return distances

    def _mean_gaps(self, bank: np.ndarray, query: np.ndarray, point_weights: np.ndarray) -> np.ndarray:
        """``(T,)`` weighted mean distance from ``query (K, 2)`` to each of ``bank (T, K, 2)``."""
        common = np.isfinite(bank - query).all(-1)  # (T, K)
        weights = np.where(common, point_weights, 0.0)
        gaps = np.linalg.norm(bank - query, axis=-1)  # (T, K), NaN where either misses
        total = weights.sum(axis=1)
        wanted = np.isfinite(query).all(-1) @ point_weights
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
