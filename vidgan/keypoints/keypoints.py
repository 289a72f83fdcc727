"""``Keypoints``: one track of 2-D keypoints over time, ``(T, K, 3)`` = x, y, confidence.

A missing detection is ``x = y = NaN`` with confidence 0, never a silent zero. On disk a set of
tracks is ``NAME.npz`` (arrays per track) plus ``NAME.json`` (metadata), written atomically:

```
NAME.json  {"format": "vidgan.keypoints", "version": 1, "skeleton": "coco17",
            "video_id": "...", "fps": "24000/1001", "image_size": [H, W],
            "tracks": [{"track_id": 0, "frames": T}, ...]}
NAME.npz   track_<id>_points (T, K, 3) float32, track_<id>_frame_index (T,) int64
```
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidgan.errors import InputError
from vidgan.io.atomic import atomic_path
from vidgan.keypoints.skeletons import COCO17, COCO_TO_OPENPOSE, OPENPOSE18, Skeleton, get_skeleton

FORMAT = "vidgan.keypoints"
VERSION = 1


def present_xy(points: np.ndarray) -> np.ndarray:
    """``(..., K, 2|3)`` x, y[, confidence] -> float ``(..., K, 2)`` coordinates, NaN where a
    point is missing (a NaN coordinate or confidence <= 0)."""
    array = np.asarray(points)
    if array.ndim < 2 or array.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints must be (..., K, 2) or (..., K, 3), got {array.shape}")
    xy = array[..., :2].astype(np.promote_types(array.dtype, np.float32))
    missing = ~np.isfinite(xy).all(-1)
    if array.shape[-1] == 3:
        missing |= ~(array[..., 2] > 0)
    xy[missing] = np.nan
    return xy


@dataclass(frozen=True, eq=False)
class Keypoints:
    """One track: ``points (T, K, 3)`` float32 x, y (pixels), confidence in [0, 1]."""

    points: np.ndarray
    skeleton: Skeleton
    frame_index: np.ndarray
    video_id: str = ""
    fps: Fraction = Fraction(25)
    image_size: tuple[int, int] = (0, 0)
    track_id: int = 0

    def __post_init__(self) -> None:
        points = np.asarray(self.points, dtype=np.float32)
        if points.ndim != 3 or points.shape[2] != 3 or points.shape[1] != self.skeleton.num_joints:
            raise ValueError(
                f"points must be (T, {self.skeleton.num_joints}, 3) for {self.skeleton.name}, got {points.shape}"
            )
        frame_index = np.asarray(self.frame_index, dtype=np.int64)
        if frame_index.shape != (points.shape[0],):
            raise ValueError(f"frame_index must be ({points.shape[0]},), got {frame_index.shape}")
        missing = ~np.isfinite(points[..., :2]).all(axis=-1) | (points[..., 2] <= 0)
        points[missing] = (np.nan, np.nan, 0.0)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "frame_index", frame_index)
        object.__setattr__(self, "fps", Fraction(self.fps).limit_denominator(1_000_000))
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))

    @classmethod
    def missing(cls, frames: int, skeleton: Skeleton, **metadata) -> Keypoints:
        """A track of ``frames`` frames with every point missing."""
        points = np.full((frames, skeleton.num_joints, 3), np.nan, np.float32)
        points[..., 2] = 0
        metadata.setdefault("frame_index", np.arange(frames))
        return cls(points, skeleton, **metadata)

    def __len__(self) -> int:
        return self.points.shape[0]

    def __getitem__(self, frames: slice | np.ndarray) -> Keypoints:
        """The same track restricted to some frames (a slice, indices or a boolean mask)."""
        return replace(self, points=self.points[frames], frame_index=self.frame_index[frames])

    @property
    def xy(self) -> np.ndarray:
        """``(T, K, 2)`` coordinates, NaN where missing."""
        return self.points[..., :2]

    @property
    def confidence(self) -> np.ndarray:
        """``(T, K)`` confidence, 0 where missing."""
        return self.points[..., 2]

    @property
    def visible(self) -> np.ndarray:
        """``(T, K)`` True where the point was detected."""
        return self.points[..., 2] > 0

    @property
    def detected_frames(self) -> np.ndarray:
        """``(T,)`` True where any point of the frame was detected."""
        return self.visible.any(axis=1)

    def with_points(self, points: np.ndarray) -> Keypoints:
        """A copy with new points, the rest unchanged."""
        return replace(self, points=points)

    def to_openpose(self) -> Keypoints:
        """COCO-17 -> OpenPose-18 (the neck is the mid-shoulder point, the lower confidence)."""

        if self.skeleton.name != COCO17.name:
            raise ValueError(f"to_openpose needs coco17 keypoints, got {self.skeleton.name}")
        source = self.points
        out = np.empty((len(self), OPENPOSE18.num_joints, 3), np.float32)
        for target, index in enumerate(COCO_TO_OPENPOSE):
            if index >= 0:
                out[:, target] = source[:, index]
        shoulders = source[:, [5, 6]]
        out[:, 1, :2] = shoulders[..., :2].mean(axis=1)
        out[:, 1, 2] = shoulders[..., 2].min(axis=1)
        return replace(self, points=out, skeleton=OPENPOSE18)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write this track (see :func:`save_tracks`)."""
        return save_tracks(path, [self])


def save_tracks(
    path: str | os.PathLike[str],
    tracks: list[Keypoints],
    *,
    skeleton: Skeleton | None = None,
    video_id: str | None = None,
    fps: Fraction | int | None = None,
    image_size: tuple[int, int] | None = None,
) -> Path:
    """Write the tracks of one video to ``path`` (``.npz``) and its ``.json`` sidecar, atomically.

    An empty list is a valid result (a video without faces); its metadata then comes from the
    keyword arguments, which otherwise default to the first track's."""
    target = Path(path).with_suffix(".npz")
    first = tracks[0] if tracks else None
    skeleton = skeleton or (first.skeleton if first else None)
    if skeleton is None:
        raise ValueError(f"{target}: an empty result needs its skeleton")
    arrays = {}
    for track in tracks:
        if track.skeleton.name != skeleton.name:
            raise ValueError(f"{target}: tracks mix skeletons {skeleton.name} and {track.skeleton.name}")
        arrays[f"track_{track.track_id}_points"] = track.points
        arrays[f"track_{track.track_id}_frame_index"] = track.frame_index
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "skeleton": skeleton.name,
        "video_id": video_id if video_id is not None else (first.video_id if first else ""),
        "fps": str(Fraction(fps if fps is not None else (first.fps if first else 25)).limit_denominator(1_000_000)),
        "image_size": list(image_size if image_size is not None else (first.image_size if first else (0, 0))),
        "tracks": [{"track_id": t.track_id, "frames": len(t)} for t in tracks],
    }
    with atomic_path(target) as temporary:
        _write_npz(temporary, arrays)
    with atomic_path(target.with_suffix(".json")) as temporary:
        temporary.write_text(json.dumps(metadata, indent=2))
    return target


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed zip timestamps: the same tracks give the same bytes
    (dataset manifests compare checksums)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)


def load_tracks(path: str | os.PathLike[str]) -> list[Keypoints]:
    """Read the tracks written by :func:`save_tracks`."""
    source = Path(path).with_suffix(".npz")
    sidecar = source.with_suffix(".json")
    for file in (source, sidecar):
        if not file.is_file():
            raise InputError(file, "no such keypoints file")
    try:
        metadata = json.loads(sidecar.read_text())
    except json.JSONDecodeError as error:
        raise InputError(sidecar, f"invalid JSON ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise InputError(sidecar, f"not a {FORMAT} v{VERSION} sidecar")
    try:
        skeleton = get_skeleton(metadata["skeleton"])
        fps, image_size = Fraction(metadata["fps"]), tuple(metadata["image_size"])
        if fps <= 0 or len(image_size) != 2 or min(image_size) < 0:  # (0, 0): an empty result's
            raise ValueError(f"fps {metadata['fps']} must be positive and image_size {list(image_size)} two sizes")
        entries = metadata["tracks"]
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise ValueError("tracks must be a list of objects")
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise InputError(sidecar, f"not a valid keypoints sidecar ({_problem(error)})") from None
    try:
        with np.load(source, allow_pickle=False) as arrays:
            return [
                Keypoints(
                    points=arrays[f"track_{entry['track_id']}_points"],
                    skeleton=skeleton,
                    frame_index=arrays[f"track_{entry['track_id']}_frame_index"],
                    video_id=metadata["video_id"],
                    fps=fps,
                    image_size=image_size,
                    track_id=entry["track_id"],
                )
                for entry in entries
            ]
    except (KeyError, TypeError, ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(source, f"not a valid keypoints file ({_problem(error)})") from None


def _problem(error: Exception) -> str:
    """An exception as a short phrase (a missing key is named as such)."""
    return f"missing {error}" if isinstance(error, KeyError) else str(error)


def convert_points(points: np.ndarray, source: Skeleton, target: Skeleton) -> np.ndarray:
    """Body keypoints ``(N, K, 3)`` from layout ``source`` to ``target`` (COCO-17 <-> OpenPose-18;
    OpenPose's neck is the mid-shoulder point, dropped going to COCO-17)."""
    if source.name == target.name:
        return np.asarray(points, np.float32)
    if source.name == COCO17.name and target.name == OPENPOSE18.name:
        track = Keypoints(points, COCO17, np.arange(len(points)))
        return track.to_openpose().points
    if source.name == OPENPOSE18.name and target.name == COCO17.name:
        return np.asarray(points, np.float32)[:, [COCO_TO_OPENPOSE.index(k) for k in range(COCO17.num_joints)]]
    raise ValueError(f"cannot convert {source.name} keypoints to {target.name}; body layouts are coco17 and openpose18")


def points_in(points: Keypoints | np.ndarray, skeleton: Skeleton, what: str = "points") -> np.ndarray:
    """``(N, K, 3)`` float32 in ``skeleton``'s layout: a :class:`Keypoints` track converted, or an
    array checked to be in that layout already (ValueError naming ``what`` otherwise)."""
    if isinstance(points, Keypoints):
        return convert_points(points.points, points.skeleton, skeleton)
    array = np.asarray(points, np.float32)
    if array.ndim != 3 or array.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"{what} must be (N, {skeleton.num_joints}, 3) for {skeleton.name}, got {array.shape}")
    return array
