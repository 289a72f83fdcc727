"""Pairs of images of one person in two poses: the training data of pose-guided generation (PG2).

Sources, each fitted to the model's size ``(H, W)`` (centre crop at that aspect, then resize;
keypoints moved along) and converted to its body layout (COCO-17 or OpenPose-18):

- ``frames``: frames and keypoints in memory (:meth:`PosePairDataset.from_frames`);
- ``layout``: a ``vidgan preprocess --task bodies`` dataset (:mod:`vidgan.data.layout`): every
  track of every complete video folder, its crops ``track_<id>.mp4`` with their keypoints
  ``track_<id>.npz`` (crop pixels, ``frame_index`` = source frames); any set of person videos;
- ``pair_csv``: DeepFashion / Market-1501 as the literature ships them (PG2, PATN): an image
  folder, a pairs CSV (header ``from,to``, one ``name,name`` row per pair) and an annotation CSV
  (header ``name:keypoints_y:keypoints_x``, rows ``name: [y0, ...]: [x0, ...]``, 18 OpenPose
  points, ``-1`` where missing). Images are read when an item is asked for;
- ``dancer``: the synthetic dancer of :mod:`vidgan.data.dancer` rendered in memory (tests).

``frames`` and ``layout`` pair every two frames of one person (track) at least ``min_gap``
frames apart, in both orders: n frames give about n² pairs (``stride`` thins the frames).

Items are dicts: ``condition`` and ``target`` float ``(3, H, W)`` in [-1, 1], and
``condition_points`` / ``target_points`` float32 ``(K, 3)`` x, y, confidence in pixels of the
``(H, W)`` images, missing points as ``(0, 0, 0)`` (what the renderers expect). An item depends
only on its index: the trainer's sampler shuffles, resumes and splits it exactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vidgan.data.dancer import DanceStyle, dancer_keypoints, render_dancer
from vidgan.data.layout import read_manifest
from vidgan.errors import ConfigError, InputError
from vidgan.io import VideoReader, read_image
from vidgan.keypoints import COCO17, OPENPOSE18, Keypoints, Skeleton, load_tracks
from vidgan.keypoints import convert_points, points_in
from vidgan.nn.images import to_tensor

Size = tuple[int, int]


@dataclass
class PosePairSettings:
    """The ``data:`` section of a pose-guided config (see the module docstring).

    ``root``: the layout folder (``layout``) or the image folder (``pair_csv``); ``pairs`` and
    ``annotations``: the two CSV files of ``pair_csv``. ``frames``: ``[start, stop)`` source
    frames kept (``layout``, ``dancer``; null: all); ``stride``: keep every stride-th of them;
    ``min_gap``: frames between the two images of a pair, at least. ``count``, ``seed``: frames and
    motion style of the ``dancer``.
    """

    format: Literal["layout", "pair_csv", "dancer"] = "layout"
    root: str = ""
    pairs: str = ""
    annotations: str = ""
    frames: tuple[int, int] | None = None
    stride: int = 1
    min_gap: int = 1
    count: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("stride", "min_gap", "count"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.format == "layout" and not self.root:
            raise ValueError("data.root: the dataset folder written by vidgan preprocess --task bodies")
        if self.format == "pair_csv" and not (self.root and self.pairs and self.annotations):
            raise ValueError("data.format pair_csv needs data.root (images), data.pairs and data.annotations")


# ---- keypoints and images -----------------------------------------------------------------


def fit_image(image: np.ndarray, points: np.ndarray, size: Size) -> tuple[np.ndarray, np.ndarray]:
    """The centred crop of ``image (h, w, 3)`` at the aspect of ``size (H, W)``, resized to it,
    and ``points (..., K, 3)`` (pixel centres on integers) moved along."""
    height, width = image.shape[:2]
    out_h, out_w = size
    crop_h, crop_w = (round(width * out_h / out_w), width) if height * out_w > width * out_h else (
        height, round(height * out_w / out_h))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = image[top : top + crop_h, left : left + crop_w]
    shrink = crop_h > out_h
    resized = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    moved = np.array(points, np.float32, copy=True)
    moved[..., 0] = (moved[..., 0] - left + 0.5) * out_w / crop_w - 0.5
    moved[..., 1] = (moved[..., 1] - top + 0.5) * out_h / crop_h - 0.5
    return resized, moved


class PersonImages(Protocol):
    """Indexed images of people: ``images[i]`` -> ``(image (H, W, 3) uint8, points (K, 3))``
    at the dataset's size, points NaN where missing."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class InMemoryImages:
    """``images (N, H, W, 3)`` uint8 with their ``points (N, K, 3)``, already at the dataset's size."""

    images: np.ndarray
    points: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[index], self.points[index]


@dataclass(frozen=True)
class ImageFiles:
    """Image files with their ``points (N, K, 3)`` in file pixels, read and fitted to ``size`` on access."""

    paths: tuple[Path, ...]
    points: np.ndarray
    size: Size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return fit_image(read_image(self.paths[index]), self.points[index], self.size)


# ---- the dataset --------------------------------------------------------------------------


class PosePairDataset(Dataset):
    """``pairs (M, 2)`` of indices (condition, target) into ``images`` (module docstring)."""

    def __init__(self, images: PersonImages, pairs: np.ndarray) -> None:
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        if not len(pairs):
            raise InputError("pose pairs", "no pair of images of one person (too few frames, or min_gap too large)")
        if pairs.min() < 0 or pairs.max() >= len(images):
            raise ValueError(f"pairs index images 0..{len(images) - 1}, got {pairs.min()}..{pairs.max()}")
        self.images, self.pairs = images, pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        condition, condition_points = self.images[int(self.pairs[index, 0])]
        target, target_points = self.images[int(self.pairs[index, 1])]
        return {"condition": to_tensor(condition), "target": to_tensor(target),
                "condition_points": _points_tensor(condition_points), "target_points": _points_tensor(target_points)}

    @classmethod
    def from_frames(
        cls,
        frames: np.ndarray | Sequence[np.ndarray],
        points: Keypoints | np.ndarray,
        size: Size,
        skeleton: Skeleton = COCO17,
        *,
        person: np.ndarray | None = None,
        frame_number: np.ndarray | None = None,
        min_gap: int = 1,
    ) -> PosePairDataset:
        """Pairs of ``frames`` (RGB uint8, any size) with their ``points`` (a track, or ``(N, K, 3)``
        in ``skeleton``'s layout and frame pixels), fitted to ``size`` and converted to ``skeleton``.
        ``person (N,)``: who each frame shows (default: one person); ``frame_number (N,)``: its
        time, for ``min_gap`` (default 0..N-1)."""
        array = points_in(points, skeleton)
        if len(frames) != len(array):
            raise ValueError(f"{len(frames)} frames but {len(array)} keypoint frames")
        fitted = [fit_image(frame, frame_points, size) for frame, frame_points in zip(frames, array, strict=True)]
        images = InMemoryImages(np.stack([f[0] for f in fitted]), np.stack([f[1] for f in fitted]))
        count = len(images)
        person = np.zeros(count, np.int64) if person is None else np.asarray(person)
        frame_number = np.arange(count) if frame_number is None else np.asarray(frame_number)
        return cls(images, same_person_pairs(person, frame_number, _seen(images.points), min_gap))

    @classmethod
    def from_layout(
        cls,
        root: str | os.PathLike[str],
        size: Size,
        skeleton: Skeleton = COCO17,
        *,
        frames: tuple[int, int] | None = None,
        stride: int = 1,
        min_gap: int = 1,
    ) -> PosePairDataset:
        """Pairs of the body tracks of a preprocessed dataset (module docstring), source frames
        ``frames = (start, stop)`` only, every ``stride``-th of them; each track is one person."""
        folders = [f for f in sorted((Path(root) / "videos").glob("*/")) if read_manifest(f) is not None]
        crops, persons, numbers = [], [], []
        for folder in folders:
            for keypoints_file in sorted(folder.glob("track_*.npz")):
                track = _load_track(keypoints_file)
                keep = _kept_rows(track.frame_index, frames, stride)
                if not keep.size:
                    continue
                video = keypoints_file.with_suffix(".mp4")
                wanted = set(keep.tolist())
                images = [frame for row, frame in enumerate(VideoReader(video)) if row in wanted]
                if len(images) != len(keep):
                    raise InputError(video, f"{len(images)} crops decoded for {len(keep)} keypoint frames")
                crops.append((images, convert_points(track.points[keep], track.skeleton, skeleton)))
                persons.append(np.full(len(keep), len(persons)))
                numbers.append(track.frame_index[keep])
        if not crops:
            raise InputError(root, "holds no body track in the frame range (videos/<id>/track_<n>.npz + .mp4 "
                                   "with a manifest: run vidgan preprocess --task bodies)")
        frame_list = [image for images, _ in crops for image in images]
        return cls.from_frames(frame_list, np.concatenate([p for _, p in crops]), size, skeleton,
                               person=np.concatenate(persons), frame_number=np.concatenate(numbers), min_gap=min_gap)

    @classmethod
    def from_pair_csv(
        cls,
        images: str | os.PathLike[str],
        pairs: str | os.PathLike[str],
        annotations: str | os.PathLike[str],
        size: Size,
        skeleton: Skeleton = COCO17,
    ) -> PosePairDataset:
        """DeepFashion / Market-1501 pairs (module docstring): image folder, ``from,to`` pairs CSV,
        ``name:keypoints_y:keypoints_x`` annotation CSV (OpenPose-18, -1: missing)."""
        names, points = read_annotations(annotations)
        lookup = {name: i for i, name in enumerate(names)}
        rows = read_pairs(pairs)
        unknown = sorted({n for row in rows for n in row if n not in lookup})
        if unknown:
            raise InputError(pairs, f"{len(unknown)} images without annotation, e.g. {unknown[0]!r}")
        folder = Path(images)
        files = ImageFiles(tuple(folder / name for name in names), convert_points(points, OPENPOSE18, skeleton), size)
        return cls(files, np.array([[lookup[a], lookup[b]] for a, b in rows], np.int64))


def same_person_pairs(person: np.ndarray, frame_number: np.ndarray, seen: np.ndarray, min_gap: int) -> np.ndarray:
    """``(M, 2)`` every ordered pair of indices of one ``person (N,)`` whose ``frame_number (N,)``
    differ by ``min_gap`` or more, both ``seen (N,)`` (some keypoint visible)."""
    pairs = []
    for who in np.unique(person):
        members = np.flatnonzero((person == who) & seen)
        first, second = np.meshgrid(members, members, indexing="ij")
        apart = np.abs(frame_number[first] - frame_number[second]) >= min_gap
        pairs.append(np.stack([first[apart], second[apart]], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


def read_annotations(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """An annotation CSV ``name:keypoints_y:keypoints_x`` -> names and OpenPose-18 points
    ``(N, 18, 3)`` (x, y, confidence 1; NaN and 0 where -1)."""
    lines = Path(path).read_text().splitlines()
    if not lines or [c.strip() for c in lines[0].split(":")] != ["name", "keypoints_y", "keypoints_x"]:
        raise InputError(path, "not an annotation CSV (header name:keypoints_y:keypoints_x)")
    names, points = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            name, ys, xs = line.split(":")
            y, x = np.array(json.loads(ys), np.float32), np.array(json.loads(xs), np.float32)
        except ValueError:
            raise InputError(path, f"line {number}: expected name: [y, ...]: [x, ...]") from None
        if y.shape != (OPENPOSE18.num_joints,) or x.shape != y.shape:
            raise InputError(path, f"line {number}: expected {OPENPOSE18.num_joints} y and x values")
        missing = (y < 0) | (x < 0)
        frame = np.stack([x, y, np.ones_like(x)], axis=1)
        frame[missing] = (np.nan, np.nan, 0.0)
        names.append(name.strip())
        points.append(frame)
    if not names:
        raise InputError(path, "holds no annotation")
    return names, np.stack(points)


def read_pairs(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """A pairs CSV (header ``from,to``) -> ``[(condition name, target name), ...]``."""
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or [c.strip() for c in lines[0].split(",")] != ["from", "to"]:
        raise InputError(path, "not a pairs CSV (header from,to)")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 2:
            raise InputError(path, f"line {number}: expected from,to")
        rows.append((parts[0], parts[1]))
    return rows


def dancer_pairs(count: int, size: Size, skeleton: Skeleton = COCO17, *, seed: int = 0,
                 frames: tuple[int, int] | None = None, min_gap: int = 1) -> PosePairDataset:
    """Pairs of ``count`` frames of the synthetic dancer (seeded motion, flat grey room) rendered
    at ``size`` with their exact keypoints; ``frames``: the ``[start, stop)`` kept."""
    points = dancer_keypoints(count, size, 24.0, DanceStyle.from_seed(seed))
    room = np.full((*size, 3), 128, np.uint8)
    keep = _kept_rows(np.arange(count), frames, 1)
    images = [render_dancer(p, room) for p in points[keep]]
    track = Keypoints(points[keep], COCO17, keep)
    return PosePairDataset.from_frames(images, track, size, skeleton, frame_number=keep, min_gap=min_gap)


def pose_pair_dataset(settings: PosePairSettings, size: Size, skeleton: Skeleton) -> PosePairDataset:
    """The dataset ``settings`` describe, at ``size`` in ``skeleton``'s layout."""
    if settings.format == "layout":
        root = Path(settings.root)
        if not root.is_dir():
            raise InputError(root, "is not a folder (data.root)")
        return PosePairDataset.from_layout(root, size, skeleton, frames=settings.frames, stride=settings.stride,
                                           min_gap=settings.min_gap)
    if settings.format == "pair_csv":
        return PosePairDataset.from_pair_csv(settings.root, settings.pairs, settings.annotations, size, skeleton)
    if settings.format == "dancer":
        return dancer_pairs(settings.count, size, skeleton, seed=settings.seed, frames=settings.frames,
                            min_gap=settings.min_gap)
    raise ConfigError(f"data.format {settings.format!r}: choose layout, pair_csv or dancer")


# ---- helpers ------------------------------------------------------------------------------


def _load_track(path: Path) -> Keypoints:
    tracks = load_tracks(path)
    if len(tracks) != 1:
        raise InputError(path, f"a track file holds one track, found {len(tracks)}")
    return tracks[0]


def _kept_rows(frame_index: np.ndarray, frames: tuple[int, int] | None, stride: int) -> np.ndarray:
    """Rows whose frame lies in ``[start, stop)`` and is ``stride``-th from ``start``."""
    start, stop = frames if frames is not None else (int(frame_index.min(initial=0)), None)
    inside = (frame_index >= start) & ((frame_index < stop) if stop is not None else True)
    return np.flatnonzero(inside & ((frame_index - start) % stride == 0))


def _seen(points: np.ndarray) -> np.ndarray:
    """``(N,)`` True where some keypoint is visible."""
    return ((points[..., 2] > 0) & np.isfinite(points[..., :2]).all(axis=-1)).any(axis=-1)


def _points_tensor(points: np.ndarray) -> torch.Tensor:
    """``(K, 3)`` with NaN for missing -> float32 with missing points as ``(0, 0, 0)``."""
    visible = (points[:, 2:3] > 0) & np.isfinite(points[:, :2]).all(axis=1, keepdims=True)
    return torch.from_numpy(np.where(visible, np.nan_to_num(points), 0.0).astype(np.float32))
