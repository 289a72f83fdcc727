"""Pairs of one face seen from the side and from the front: the training data of TP-GAN.

Every image is an aligned face crop (:mod:`vidgan.data.face_crops`, the one aligner) at the
model's ``crop_size`` and ``crop_scale``. Sources:

- ``multipie``: a Multi-PIE-style folder ``ROOT/<identity>/<pose>/<frame>.png|jpg`` whose pose
  folders are camera names (``051`` frontal, ``050``, ``140``, ``041``...) mapped to yaw
  degrees by :data:`MULTIPIE_YAW` (configurable). Each non-frontal image with ``|yaw| <=
  max_yaw`` is paired with the frontal image of its identity of the same frame name (the same
  illumination) when there is one, else the identity's first frontal image. Images are aligned
  with :func:`~vidgan.data.face_crops.align_images` (dlib: slow) once and cached on disk per
  geometry; images without a face are skipped and listed in ``skipped`` with the reason;
- ``images`` / ``layout`` / ``synthetic``: frontal crops (face photos, a ``vidgan preprocess
  --task faces`` dataset, or drawn faces without age cues from
  :func:`~vidgan.data.synthetic_faces.synthetic_faces`) each rotated by ``views``
  yaws in ``[-max_yaw, max_yaw]`` with :func:`rotate_face`, a vertical cylinder through the
  face: input and target are exactly paired, landmarks included.

Items are dicts: ``profile`` and ``frontal`` float ``(3, S, S)`` in [-1, 1], ``profile_landmarks``
and ``frontal_landmarks`` float32 ``(68, 2)`` iBUG-68 in crop pixels. An item depends only on its
index: the trainer's sampler shuffles, resumes and splits it exactly.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vidgan.data.face_crops import FaceCrops, align_images, layout_faces
from vidgan.data.synthetic_faces import synthetic_faces
from vidgan.errors import InputError
from vidgan.io.atomic import atomic_path
from vidgan.keypoints.extract import FrameKeypointer
from vidgan.nn.images import to_tensor

#: Multi-PIE's cameras at head height -> yaw in degrees (sign: the side the camera stands on;
#: only ``|yaw|`` is compared with ``max_yaw``). ``081`` and ``191`` (above the head) are left out.
MULTIPIE_YAW: dict[str, float] = {
    "110": -90.0, "120": -75.0, "090": -60.0, "080": -45.0, "130": -30.0, "140": -15.0, "051": 0.0,
    "050": 15.0, "041": 30.0, "190": 45.0, "200": 60.0, "010": 75.0, "240": 90.0,
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class MultiviewSettings:
    """The ``data:`` section of a TP-GAN config (see the module docstring).

    ``root``: the Multi-PIE-style folder (``multipie``), a folder of frontal face photos
    (``images``, searched recursively) or a ``vidgan preprocess --task faces`` dataset
    (``layout``, every ``stride``-th frame). ``poses``: camera folder name -> yaw degrees (quote
    the names in YAML: ``"051"``); ``frontal_pose``: the camera of the targets. ``max_yaw``:
    largest ``|yaw|`` kept (``multipie``) or drawn (rotations); ``views``: rotations per frontal
    face; ``cache``: folder of the aligned Multi-PIE crops (empty: ``ROOT/.aligned``; images
    that failed are remembered too: delete the cache file to try them again).
    ``count``, ``seed``: faces and randomness of ``synthetic`` (``seed`` also draws the yaws).
    """

    format: Literal["multipie", "images", "layout", "synthetic"] = "synthetic"
    root: str = ""
    poses: dict[str, float] = field(default_factory=lambda: dict(MULTIPIE_YAW))
    frontal_pose: str = "051"
    max_yaw: float = 45.0
    views: int = 4
    cache: str = ""
    stride: int = 1
    count: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("views", "stride", "count"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.max_yaw <= 90:
            raise ValueError(f"data.max_yaw must be in [0, 90] degrees, got {self.max_yaw}")
        if self.format != "synthetic" and not self.root:
            raise ValueError(f"data.root: the folder of the {self.format} data")
        if self.format == "multipie" and self.frontal_pose not in self.poses:
            raise ValueError(f"data.frontal_pose {self.frontal_pose!r} is not one of data.poses")


# ---- synthetic rotation -------------------------------------------------------------------


def _cylinder(landmarks: np.ndarray, margin: float = 1.15) -> tuple[float, float]:
    """Axis ``x`` and radius of the vertical cylinder through a face: the jaw's width (points 0
    and 16) times ``margin``, so that the cheeks and ears turn with it."""
    left, right = float(landmarks[0, 0]), float(landmarks[16, 0])
    return (left + right) / 2, margin * abs(right - left) / 2


def rotate_points(landmarks: np.ndarray, yaw: float) -> np.ndarray:
    """``landmarks (68, 2)`` of a frontal crop as :func:`rotate_face` moves them: positive
    ``yaw`` (degrees) turns the face towards larger x (its nose moves right in the image)."""
    centre, radius = _cylinder(landmarks)
    angle = np.arcsin(np.clip((landmarks[:, 0].astype(np.float64) - centre) / radius, -1, 1))
    moved = np.array(landmarks, np.float32, copy=True)
    moved[:, 0] = centre + radius * np.sin(angle + np.radians(yaw))
    return moved


def rotate_face(image: np.ndarray, landmarks: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """A frontal face crop ``image (S, S, 3)`` uint8 with its ``landmarks (68, 2)`` turned by
    ``yaw`` degrees about a vertical axis: the face is a cylinder (:func:`_cylinder`) seen
    orthographically, its far side hidden (self-occlusion), the side turning into view
    stretched from the silhouette; the background outside the cylinder stays. Returns the
    rotated image and landmarks; ``yaw = 0`` returns them unchanged."""
    centre, radius = _cylinder(landmarks)
    height, width = image.shape[:2]
    x = np.arange(width, dtype=np.float64)
    inside = np.abs(x - centre) <= radius
    seen = np.arcsin(np.clip((x - centre) / radius, -1, 1)) - np.radians(yaw)
    source = np.where(inside, centre + radius * np.sin(np.clip(seen, -np.pi / 2, np.pi / 2)), x)
    map_x = np.broadcast_to(source.astype(np.float32), (height, width))
    map_y = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
    rotated = cv2.remap(image, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    return rotated, rotate_points(landmarks, yaw)


# ---- datasets -----------------------------------------------------------------------------


class RotatedPairs(Dataset):
    """Each face of ``faces`` (frontal :class:`FaceCrops`) turned by ``views`` yaws drawn
    uniformly in ``[-max_yaw, max_yaw]`` (from ``seed``, fixed per index): item ``i`` is view
    ``i % views`` of face ``i // views``, the rotated crop as input and the crop as target.
    ``skipped``: ``(path, reason)`` of source images left out (kept for the run's log)."""

    def __init__(self, faces: FaceCrops, views: int = 4, max_yaw: float = 45.0, seed: int = 0,
                 skipped: Sequence[tuple[str, str]] = ()) -> None:
        if len(faces) == 0:
            raise ValueError("no frontal faces to rotate")
        self.faces = faces
        self.views = views
        self.skipped = list(skipped)
        self.yaws = np.random.default_rng(seed).uniform(-max_yaw, max_yaw, len(faces) * views)

    def __len__(self) -> int:
        return len(self.yaws)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        face = index // self.views
        image, points = self.faces.images[face], self.faces.landmarks[face]
        rotated, moved = rotate_face(image, points, float(self.yaws[index]))
        return {"profile": to_tensor(rotated), "profile_landmarks": torch.from_numpy(moved),
                "frontal": to_tensor(image), "frontal_landmarks": torch.from_numpy(points)}


class MultiviewPairs(Dataset):
    """Aligned ``crops`` paired by ``pairs (N, 2)`` rows ``(profile index, frontal index)``;
    ``yaws (N,)``: each input's yaw; ``skipped``: ``(path, reason)`` of the images left out."""

    def __init__(self, crops: FaceCrops, pairs: np.ndarray, yaws: np.ndarray,
                 skipped: Sequence[tuple[str, str]] = ()) -> None:
        self.crops, self.pairs, self.yaws = crops, np.asarray(pairs, np.int64).reshape(-1, 2), np.asarray(yaws)
        self.skipped = list(skipped)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        profile, frontal = self.pairs[index]
        images, landmarks = self.crops.images, self.crops.landmarks
        return {"profile": to_tensor(images[profile]), "profile_landmarks": torch.from_numpy(landmarks[profile]),
                "frontal": to_tensor(images[frontal]), "frontal_landmarks": torch.from_numpy(landmarks[frontal])}

    @classmethod
    def from_multipie(cls, root: str | os.PathLike[str], crop_size: int, crop_scale: float = 1.0, *,
                      poses: dict[str, float] | None = None, frontal_pose: str = "051", max_yaw: float = 90.0,
                      cache: str | os.PathLike[str] | None = None,
                      keypointer: FrameKeypointer | None = None) -> MultiviewPairs:
        """The pairs of a Multi-PIE-style folder (module docstring); aligned crops are cached in
        ``cache`` (default ``root/.aligned``) and only new images are aligned on later calls."""
        root, poses = Path(root), dict(MULTIPIE_YAW if poses is None else poses)
        files = sorted(
            path.relative_to(root).as_posix() for path in root.glob("*/*/*")
            if path.suffix.lower() in IMAGE_SUFFIXES and path.parent.name in poses
            and (path.parent.name == frontal_pose or abs(poses[path.parent.name]) <= max_yaw)
        )
        if not files:
            raise InputError(root, f"no images in ROOT/<identity>/<pose>/ with a pose among {sorted(poses)}")
        aligned, skipped = _aligned_cache(root, files, crop_size, crop_scale,
                                          Path(cache) if cache else root / ".aligned", keypointer)
        index = {name: i for i, name in enumerate(aligned.sources)}
        frontal: dict[str, dict[str, int]] = defaultdict(dict)
        for name in aligned.sources:
            identity, pose, frame = name.split("/")
            if pose == frontal_pose:
                frontal[identity][Path(frame).stem] = index[name]
        pairs, yaws = [], []
        for name in aligned.sources:
            identity, pose, frame = name.split("/")
            if pose == frontal_pose:
                continue
            targets = frontal.get(identity)
            if not targets:
                skipped.append((str(root / name), f"no frontal ({frontal_pose}) image of {identity}"))
                continue
            target = targets.get(Path(frame).stem, targets[min(targets)])
            pairs.append((index[name], target))
            yaws.append(poses[pose])
        crops = FaceCrops(aligned.images, aligned.landmarks, [str(root / name) for name in aligned.sources])
        return cls(crops, np.array(pairs, np.int64), np.array(yaws, np.float32), skipped)


def _aligned_cache(root: Path, files: list[str], crop_size: int, crop_scale: float, cache: Path,
                   keypointer: FrameKeypointer | None) -> tuple[FaceCrops, list[tuple[str, str]]]:
    """Aligned crops of ``files`` (paths relative to ``root``, kept as their ``sources``) and
    ``(path, reason)`` of those without a face, through the cache file of this geometry in
    ``cache``; images not in it yet are aligned and the cache rewritten."""
    path = cache / f"aligned_{crop_size}_{crop_scale:g}.npz"
    images: dict[str, np.ndarray] = {}
    points: dict[str, np.ndarray] = {}
    failed: dict[str, str] = {}
    if path.is_file():
        with np.load(path) as stored:
            for name, image, landmarks in zip(stored["sources"].tolist(), stored["images"], stored["landmarks"],
                                              strict=True):
                images[name], points[name] = image, landmarks
            failed.update(zip(stored["failed"].tolist(), stored["reasons"].tolist(), strict=True))
    missing = [name for name in files if name not in images and name not in failed]
    if missing:
        crops, skipped = align_images([root / name for name in missing], crop_size, crop_scale, keypointer)
        for source, image, landmarks in zip(crops.sources, crops.images, crops.landmarks, strict=True):
            name = Path(source).relative_to(root).as_posix()
            images[name], points[name] = image, landmarks
        failed.update((Path(source).relative_to(root).as_posix(), reason) for source, reason in skipped)
        every = _crops_of(sorted(images), images, points, crop_size)
        reasons = sorted(failed)
        with atomic_path(path) as temporary:
            np.savez(temporary, sources=np.array(every.sources, dtype=str), images=every.images,
                     landmarks=every.landmarks, failed=np.array(reasons, dtype=str),
                     reasons=np.array([failed[n] for n in reasons], dtype=str))
    aligned = _crops_of([name for name in files if name in images], images, points, crop_size)
    return aligned, [(str(root / name), failed[name]) for name in files if name in failed]


def _crops_of(names: list[str], images: dict[str, np.ndarray], points: dict[str, np.ndarray],
              crop_size: int) -> FaceCrops:
    if not names:
        return FaceCrops(np.zeros((0, crop_size, crop_size, 3), np.uint8), np.zeros((0, 68, 2), np.float32), [])
    return FaceCrops(np.stack([images[n] for n in names]), np.stack([points[n] for n in names]).astype(np.float32),
                     names)


def multiview_dataset(settings: MultiviewSettings, crop_size: int, crop_scale: float = 1.0) -> Dataset:
    """The dataset of ``settings`` at the geometry ``crop_size`` / ``crop_scale`` of a model."""
    if settings.format == "multipie":
        return MultiviewPairs.from_multipie(settings.root, crop_size, crop_scale, poses=settings.poses,
                                            frontal_pose=settings.frontal_pose, max_yaw=settings.max_yaw,
                                            cache=settings.cache or None)
    skipped: list[tuple[str, str]] = []
    if settings.format == "synthetic":
        faces = synthetic_faces(settings.count, crop_size, crop_scale, seed=settings.seed)
    elif settings.format == "layout":
        faces = layout_faces(settings.root, crop_size, crop_scale, settings.stride)
    else:
        root = Path(settings.root)
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        faces, skipped = align_images(paths, crop_size, crop_scale)
    if len(faces) == 0:
        raise InputError(settings.root, "no face found to rotate")
    return RotatedPairs(faces, settings.views, settings.max_yaw, settings.seed, skipped)
