"""Pose normalisation for motion transfer and landmark transfer for face reenactment.

``PoseNormalizer``: Everybody Dance Now's global pose normalisation (Chan et al. 2019, sec. 3.3
and appendix). Each video's ground line is summarised by a far (smallest ankle y) and a near
(largest ankle y) position and the person's height (head top to ankle) there. A source frame is
scaled by the target/source height ratio interpolated between far and near according to where
its ankle lies, and moved so that its ankle lands on the corresponding target ankle position.
When either video shows its ankles (inside the frame, confidence >= :data:`SEEN`) in fewer than
``min_grounded`` of its frames (a dancer seen from the hips up, whose ankles a body model still
guesses far below the frame), there is no ground line to match: the source is scaled by the
ratio of the median torso sizes (shoulder midpoint to hip midpoint, or shoulder width where hips
are rarely seen), its median shoulder midpoint moved onto the target's, and its guessed points
(confidence < :data:`SEEN`) dropped.

``transfer_expression``: driving landmarks minus the driving neutral face, head pose removed by a
similarity on stable points (eye corners, nose bridge), added onto a target's neutral landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from vidgan.keypoints.align import apply_transform, estimate_similarity
from vidgan.keypoints.keypoints import Keypoints
from vidgan.keypoints.retrieval import STABLE_FACE_POINTS
from vidgan.keypoints.skeletons import IBUG68, Skeleton



#: A point with at least this confidence was seen; below it a body model guessed it (mediapipe
#: still places the legs of a person cut off at the hips, with confidence near 0).
SEEN = 0.5


@dataclass(frozen=True)
class GroundLine:
    """One video's far and near ankle y positions and the person's heights there (pixels),
    and the horizontal centre of the person over the video."""

    far_y: float
    near_y: float
    far_height: float
    near_height: float
    center_x: float

    def position(self, ankle_y: np.ndarray) -> np.ndarray:
        """``(T,)`` where each ankle lies from far (0) to near (1); 0 where the range is empty."""
        span = self.near_y - self.far_y
        return (ankle_y - self.far_y) / span if span > 0 else np.zeros_like(ankle_y)


@dataclass(frozen=True)
class Torso:
    """One video's median shoulder midpoint ``(x, y)`` and median torso size (pixels), for
    videos that rarely show the ankles."""

    x: float
    y: float
    size: float


@dataclass
class PoseNormalizer:
    """Maps source body keypoints (COCO-17 or OpenPose-18) into a target video's framing.

    ``percentile``: the far/near ankle positions are the ``percentile`` and ``100 - percentile``
    percentiles of the per-frame ankle y, so a few bad frames do not move them. ``tolerance``:
    frames whose ankle lies within ``tolerance * median height`` of a position measure the height
    there, as the ``height_percentile`` of their heights (standing, not crouching).
    ``min_grounded``: the share of frames of each video that must show head and ankles for the
    ground lines to be used; below it both videos are matched by their torsos (module docstring).
    """

    percentile: float = 5.0
    tolerance: float = 0.05
    height_percentile: float = 90.0
    min_grounded: float = 0.5
    source: GroundLine | Torso | None = field(default=None, init=False)
    target: GroundLine | Torso | None = field(default=None, init=False)
    image_size: tuple[int, int] = field(default=(0, 0), init=False)

    def fit(self, source: Keypoints, target: Keypoints) -> PoseNormalizer:
        """Measure both videos (ground lines, else torsos); returns ``self``."""
        grounded = min(_grounded_share(source), _grounded_share(target))
        measure = self.ground_line if grounded >= self.min_grounded else self.torso
        self.source, self.target = measure(source), measure(target)
        self.image_size = target.image_size
        return self

    @property
    def by_torso(self) -> bool:
        """Whether the fitted videos are matched by their torsos (no usable ground line)."""
        return isinstance(self.source, Torso)

    def torso(self, keypoints: Keypoints) -> Torso:
        """The median shoulder midpoint and torso size of one video."""
        xy = keypoints.xy
        shoulders = xy[:, _joints(keypoints.skeleton, "shoulder")]
        hips = xy[:, _joints(keypoints.skeleton, "hip")]
        middle = shoulders.mean(axis=1)  # NaN unless both shoulders are seen
        length = np.linalg.norm(hips.mean(axis=1) - middle, axis=-1)
        width = np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=-1)
        seen = np.isfinite(middle).all(axis=-1)
        if not seen.any():
            raise ValueError(f"{keypoints.video_id or 'keypoints'}: no frame shows both shoulders")
        size = length if np.isfinite(length).mean() >= 0.5 * seen.mean() else width
        return Torso(x=float(np.nanmedian(middle[seen, 0])), y=float(np.nanmedian(middle[seen, 1])),
                     size=float(np.nanmedian(size)))

    def ground_line(self, keypoints: Keypoints) -> GroundLine:
        """The far/near ankle positions and heights of one video."""
        ankle_y, height = _ankle_y(keypoints), _height(keypoints)
        measured = np.isfinite(ankle_y) & np.isfinite(height)
        if not measured.any():
            raise ValueError(f"{keypoints.video_id or 'keypoints'}: no frame shows both head and ankles")
        ankle_y, height = ankle_y[measured], height[measured]
        far_y, near_y = np.percentile(ankle_y, [self.percentile, 100 - self.percentile])
        window = self.tolerance * np.median(height)
        return GroundLine(
            far_y=float(far_y),
            near_y=float(near_y),
            far_height=float(np.percentile(height[_around(ankle_y, far_y, window)], self.height_percentile)),
            near_height=float(np.percentile(height[_around(ankle_y, near_y, window)], self.height_percentile)),
            center_x=float(np.nanmedian(keypoints.xy[..., 0])),
        )

    def __call__(self, source: Keypoints) -> Keypoints:
        """``source`` in the target's framing (``image_size`` too); missing points stay missing.

        Each frame is scaled about its grounded ankle, which moves to the target ankle position
        linearly matching its place between far and near (extrapolated beyond them; the scale is
        held at the far/near ratios there). x is scaled about the source's median x, which moves
        to the target's. Frames without a visible ankle take it interpolated from neighbours.
        """
        if self.source is None or self.target is None:
            raise RuntimeError("PoseNormalizer.__call__ before fit()")
        src, dst = self.source, self.target
        if isinstance(src, Torso) and isinstance(dst, Torso):
            scale = dst.size / src.size
            points = source.points.copy()
            points[..., 0] = dst.x + scale * (points[..., 0] - src.x)
            points[..., 1] = dst.y + scale * (points[..., 1] - src.y)
            points[points[..., 2] < SEEN] = (np.nan, np.nan, 0.0)  # guesses, not what the camera saw
            return replace(source, points=points, image_size=self.image_size)
        ankle_y = _fill_gaps(_ankle_y(source), source.frame_index)
        where = src.position(ankle_y)
        near_ratio, far_ratio = dst.near_height / src.near_height, dst.far_height / src.far_height
        scale = far_ratio + np.clip(where, 0.0, 1.0) * (near_ratio - far_ratio)
        target_ankle_y = dst.far_y + where * (dst.near_y - dst.far_y)
        points = source.points.copy()
        points[..., 0] = dst.center_x + scale[:, None] * (points[..., 0] - src.center_x)
        points[..., 1] = target_ankle_y[:, None] + scale[:, None] * (points[..., 1] - ankle_y[:, None])
        return replace(source, points=points, image_size=self.image_size)


def normalize_pose(source: Keypoints, target: Keypoints) -> Keypoints:
    """``source`` body keypoints normalised to ``target``'s framing (see :class:`PoseNormalizer`)."""
    return PoseNormalizer().fit(source, target)(source)


def align_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` least-squares similarity taking ``src (K, 2)`` onto ``dst (K, 2)``; rows with
    NaN in either are ignored (Umeyama, see :func:`vidgan.keypoints.align.estimate_similarity`)."""
    source = torch.as_tensor(np.asarray(src, np.float64))[None]
    return estimate_similarity(source, torch.as_tensor(np.asarray(dst, np.float64)))[0].numpy()


def transfer_expression(
    driving: Keypoints, target_neutral: np.ndarray, driving_neutral: np.ndarray | None = None
) -> Keypoints:
    """Move a target face's neutral landmarks ``(68, 3)`` as the ``driving`` iBUG-68 track moves.

    Each driving frame and the driving neutral face (default: the first frame with every point)
    are aligned to the target by similarities on :data:`STABLE_FACE_POINTS`; the result is the target
    neutral plus the aligned frame's displacement from the aligned neutral. Frames with fewer than
    two stable points, and points missing in any input, are missing.
    """
    if driving.skeleton.name != IBUG68.name:
        raise ValueError(f"transfer_expression needs ibug68 landmarks, got {driving.skeleton.name}")
    neutral = _xy(_first_complete_frame(driving) if driving_neutral is None else driving_neutral)
    target = _xy(target_neutral)
    stable = list(STABLE_FACE_POINTS)
    usable = np.isfinite(driving.xy[:, stable]).all(axis=-1).sum(axis=-1) >= 2
    faces = torch.as_tensor(np.concatenate([neutral[None], driving.xy[usable]]), dtype=torch.float64)
    to_target = estimate_similarity(faces[:, stable], torch.as_tensor(target[stable]))
    aligned = apply_transform(to_target, faces).numpy()
    points = np.full(driving.points.shape, np.nan, np.float32)
    points[usable, :, :2] = target + aligned[1:] - aligned[0]
    points[..., 2] = driving.confidence
    return driving.with_points(points)


def _joints(skeleton: Skeleton, *words: str) -> list[int]:
    """Indices of the joints whose names contain any of ``words``."""
    return [i for i, name in enumerate(skeleton.joints) if any(word in name for word in words)]


def _ankle_y(keypoints: Keypoints) -> np.ndarray:
    """``(T,)`` y of the lower (grounded) ankle, NaN where no ankle is visible."""
    return _nanreduce(np.nanmax, keypoints.xy[:, _joints(keypoints.skeleton, "ankle"), 1])


def _grounded_share(keypoints: Keypoints) -> float:
    """The share of frames that show the head and an ankle seen inside the frame."""
    if not len(keypoints):
        return 0.0
    ankles = _joints(keypoints.skeleton, "ankle")
    seen = keypoints.confidence[:, ankles] >= SEEN
    height = keypoints.image_size[0] or np.inf
    inside = (keypoints.xy[:, ankles, 1] >= 0) & (keypoints.xy[:, ankles, 1] < height)
    return float((np.isfinite(_height(keypoints)) & (seen & inside).any(axis=1)).mean())


def _height(keypoints: Keypoints) -> np.ndarray:
    """``(T,)`` head top (nose, eyes, ears) to grounded ankle, NaN where either is missing."""
    head = _nanreduce(np.nanmin, keypoints.xy[:, _joints(keypoints.skeleton, "nose", "eye", "ear"), 1])
    return _ankle_y(keypoints) - head


def _around(values: np.ndarray, position: float, window: float) -> np.ndarray:
    """Mask of the values within ``window`` of ``position`` (at least the closest one)."""
    distance = np.abs(values - position)
    return distance <= max(window, distance.min())


def _nanreduce(reduce, values: np.ndarray) -> np.ndarray:
    """``reduce`` over the last axis ignoring NaN; NaN for all-NaN rows, without a warning."""
    out = np.full(values.shape[:-1], np.nan, values.dtype)
    seen = np.isfinite(values).any(axis=-1)
    out[seen] = reduce(values[seen], axis=-1)
    return out


def _fill_gaps(values: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``(T,)`` with NaN entries linearly interpolated in time (``frames (T,)``) from their neighbours."""
    known = np.isfinite(values)
    if not known.any():
        raise ValueError("no frame shows an ankle")
    return np.interp(frames, frames[known], values[known])


def _first_complete_frame(keypoints: Keypoints) -> np.ndarray:
    """``(K, 3)`` the first frame in which every point is visible."""
    complete = np.flatnonzero(keypoints.visible.all(axis=1))
    if complete.size == 0:
        raise ValueError("no driving frame has every landmark; pass driving_neutral")
    return keypoints.points[complete[0]]


def _xy(points: np.ndarray) -> np.ndarray:
    """``(K, 3)`` points -> ``(K, 2)`` float64 coordinates, NaN where missing."""
    points = np.asarray(points, np.float64)
    return np.where(points[:, 2:3] > 0, points[:, :2], np.nan)

