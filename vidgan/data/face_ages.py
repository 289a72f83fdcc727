"""Face crops with ages: the training data of Age-cGAN (:mod:`vidgan.models.age_cgan`).

Sources (``format`` of :class:`FaceAgeSettings`):

- ``utkface``: a folder of UTKFace-style photos named ``age_gender_race_date.jpg`` (age parsed
  from the name; malformed names are skipped and reported);
- ``csv``: a CSV of ``path,age`` rows (header optional, relative paths resolved against the
  CSV's folder; a bad row is an :class:`~vidgan.errors.InputError` naming file and line);
- ``layout``: the face tracks of a ``vidgan preprocess --task faces`` dataset
  (:func:`~vidgan.data.face_crops.layout_faces`), aged by a CSV of ``video,age`` rows (``video``:
  the source video's file name or stem);
- ``synthetic``: drawn faces whose look depends on age (grey hair, wrinkles), with their 68
  landmarks (:func:`~vidgan.data.synthetic_faces.synthetic_faces`; tests and demos; no files).

Photos are aligned by :func:`~vidgan.data.face_crops.align_images` (dlib, the one aligner) at the
model's ``crop_size`` and ``crop_scale`` or, with ``aligned: true``, taken as already aligned crops
and resized. Alignment is slow, so the crops are computed once and cached in an ``.npz`` keyed by
the crop geometry and the files' names, sizes and times (in ``cache`` or a ``.vidgan_cache`` folder
beside the data).

:class:`FaceAgeDataset` items are ``{"image": float (3, S, S) in [-1, 1], "group": long}`` and
depend only on their index.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vidgan.data.face_crops import FaceCrops, align_images, layout_faces
from vidgan.data.synthetic_faces import synthetic_ages, synthetic_faces
from vidgan.errors import InputError
from vidgan.io import atomic_path, read_image
from vidgan.io.images import IMAGE_SUFFIXES
from vidgan.nn.images import to_tensor

__all__ = [
    "AgedFaces",
    "FaceAgeDataset",
    "FaceAgeSettings",
    "aligned_faces",
    "load_face_ages",
    "parse_utkface_name",
    "read_age_csv",
    "utkface_files",
]

#: UTKFace file names: ``age_gender_race_date`` then the suffix(es), e.g. ``35_0_0_20170117.jpg.chip.jpg``.
_UTKFACE_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_(\d+)\.")
MAX_AGE = 120


@dataclass
class FaceAgeSettings:
    """The ``data:`` section of an Age-cGAN config (see the module docstring).

    ``root``: the UTKFace folder (``utkface``) or the preprocessed dataset (``layout``); ``csv``:
    the ``path,age`` CSV (``csv``) or the ``video,age`` CSV (``layout``). ``aligned``: the images
    are already aligned face crops (no detection; resized to the model's crop size). ``cache``:
    folder of the crop cache ("" = ``.vidgan_cache`` beside the data). ``stride``: every
    stride-th frame of each track (``layout``). ``count``, ``seed``: the ``synthetic`` faces.
    """

    format: Literal["utkface", "csv", "layout", "synthetic"] = "utkface"
    root: str = ""
    csv: str = ""
    aligned: bool = False
    cache: str = ""
    stride: int = 1
    count: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("stride", "count"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.format in ("utkface", "layout") and not self.root:
            raise ValueError(f"data.format {self.format} needs data.root (the dataset folder)")
        if self.format in ("csv", "layout") and not self.csv:
            raise ValueError(f"data.format {self.format} needs data.csv (rows path,age or video,age)")


@dataclass
class AgedFaces:
    """Aligned ``crops`` (:class:`FaceCrops`; landmarks NaN for crops taken as aligned) and the
    ``ages (N,)`` float32 in years of each crop."""

    crops: FaceCrops
    ages: np.ndarray

    def __len__(self) -> int:
        return len(self.ages)


# ---- sources ------------------------------------------------------------------------------


def parse_utkface_name(name: str) -> float | None:
    """The age in a UTKFace file name ``age_gender_race_date.jpg``, or None when malformed."""
    match = _UTKFACE_NAME.match(name)
    if match is None or int(match.group(1)) > MAX_AGE:
        return None
    return float(match.group(1))


def utkface_files(root: str | os.PathLike[str]) -> tuple[list[Path], list[float], list[tuple[str, str]]]:
    """Images under ``root`` (sorted), their ages from their names, and ``(path, reason)`` of
    every image whose name is not ``age_gender_race_date.<suffix>``."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "not a folder of UTKFace images")
    paths, ages, skipped = [], [], []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        age = parse_utkface_name(path.name)
        if age is None:
            skipped.append((str(path), "name is not age_gender_race_date (UTKFace)"))
        else:
            paths.append(path)
            ages.append(age)
    return paths, ages, skipped


def read_age_csv(path: str | os.PathLike[str], resolve: bool = True) -> tuple[list[str], list[float]]:
    """The ``name,age`` rows of a CSV (a first row whose age is not a number is a header);
    names are resolved against the CSV's folder when ``resolve``. A bad row raises InputError
    naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "missing: expected a CSV of path,age rows")
    names, ages = [], []
    with path.open(newline="") as file:
        for line, row in enumerate(csv.reader(file), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < 2:
                raise InputError(path, f"line {line}: expected path,age, got {','.join(row)!r}")
            name, text = row[0].strip(), row[1].strip()
            try:
                age = float(text)
            except ValueError:
                if line == 1:
                    continue  # the header
                raise InputError(path, f"line {line}: age {text!r} is not a number") from None
            if not name or not 0 <= age <= MAX_AGE or not math.isfinite(age):
                raise InputError(path, f"line {line}: need a name and an age in [0, {MAX_AGE}], got {row[:2]}")
            names.append(str(path.parent / name) if resolve else name)
            ages.append(age)
    return names, ages


def aligned_faces(paths: Sequence[str | os.PathLike[str]], crop_size: int, scale: float, *, aligned: bool = False,
                  cache: str | os.PathLike[str] | None = None) -> tuple[FaceCrops, list[tuple[str, str]]]:
    """Aligned crops of the images ``paths`` (:func:`align_images`, or resized as they are when
    ``aligned``), and ``(path, reason)`` of those skipped; read from / written to an ``.npz`` in
    the folder ``cache`` when given (keyed by geometry and the files' names, sizes and times)."""
    file = None
    if cache is not None:
        key = json.dumps([crop_size, float(scale), aligned, [_stamp(p) for p in paths]])
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        file = Path(cache) / f"age_faces_{crop_size}px_x{scale:g}_{'aligned' if aligned else 'dlib'}_{digest}.npz"
        if file.is_file():
            with np.load(file) as stored:
                crops = FaceCrops(stored["images"], stored["landmarks"], stored["sources"].tolist())
                return crops, [tuple(pair) for pair in stored["skipped"].tolist()]
    crops, skipped = _resized_crops(paths, crop_size) if aligned else align_images(paths, crop_size, scale)
    if file is not None:
        try:
            with atomic_path(file) as temporary, temporary.open("wb") as handle:
                np.savez(handle, images=crops.images, landmarks=crops.landmarks,
                         sources=np.array(crops.sources, dtype=str), skipped=np.array(skipped, dtype=str).reshape(-1, 2))
        except OSError as error:  # read-only data: train on, without the cache
            warnings.warn(f"{file}: crop cache not written ({error.strerror}); set data.cache to a writable folder",
                          stacklevel=2)
    return crops, skipped


def _stamp(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """``(path, size, mtime_ns)`` of a file (-1s when it does not exist): its cache identity."""
    try:
        stat = os.stat(path)
    except OSError:
        return str(path), -1, -1
    return str(path), stat.st_size, stat.st_mtime_ns


def _resized_crops(paths: Sequence[str | os.PathLike[str]], crop_size: int) -> tuple[FaceCrops, list[tuple[str, str]]]:
    """Images taken as aligned crops, resized to ``crop_size`` (landmarks unknown: NaN)."""
    images, sources, skipped = [], [], []
    for path in paths:
        try:
            image = read_image(path)
        except InputError as error:
            skipped.append((str(path), error.problem))
            continue
        shrink = image.shape[0] > crop_size
        images.append(cv2.resize(image, (crop_size, crop_size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR))
        sources.append(str(path))
    stack = np.stack(images) if images else np.zeros((0, crop_size, crop_size, 3), np.uint8)
    return FaceCrops(stack, np.full((len(images), 68, 2), np.nan, np.float32), sources), skipped


def load_face_ages(settings: FaceAgeSettings, crop_size: int, scale: float) -> AgedFaces:
    """The crops and ages ``settings`` describe, at ``crop_size`` and ``scale`` (the
    ``face_transform`` zoom). Skipped files are reported in one warning; no usable face is an
    InputError."""
    if settings.format == "synthetic":
        ages = synthetic_ages(settings.count, settings.seed)
        return AgedFaces(synthetic_faces(settings.count, crop_size, scale, seed=settings.seed, ages=ages), ages)
    if settings.format == "layout":
        return _layout_ages(settings, crop_size, scale)
    if settings.format == "utkface":
        paths, ages, skipped = utkface_files(settings.root)
        where = Path(settings.root)
    else:
        names, ages = read_age_csv(settings.csv)
        paths, skipped, where = [Path(name) for name in names], [], Path(settings.csv).parent
    cache = Path(settings.cache) if settings.cache else where / ".vidgan_cache"
    crops, failed = aligned_faces(paths, crop_size, scale, aligned=settings.aligned, cache=cache)
    skipped = skipped + failed
    if skipped:
        listed = "; ".join(f"{p}: {reason}" for p, reason in skipped[:5])
        warnings.warn(f"skipped {len(skipped)} image(s) of {where} ({listed}{'; ...' if len(skipped) > 5 else ''})",
                      stacklevel=2)
    age_of = {str(p): age for p, age in zip(paths, ages, strict=True)}
    if len(crops) == 0:
        raise InputError(where, "no usable face image (nothing aligned)")
    return AgedFaces(crops, np.array([age_of[s] for s in crops.sources], np.float32))


def _layout_ages(settings: FaceAgeSettings, crop_size: int, scale: float) -> AgedFaces:
    """Faces of a preprocessed layout, each aged by its source video's row of ``settings.csv``."""
    names, ages = read_age_csv(settings.csv, resolve=False)
    age_of = {name: age for name, age in zip(names, ages, strict=True)}
    crops = layout_faces(settings.root, crop_size, scale, settings.stride)
    keep, crop_ages = [], []
    for index, source in enumerate(crops.sources):
        video = Path(source.rpartition(":")[0])
        age = age_of.get(video.name, age_of.get(video.stem))
        if age is not None:
            keep.append(index)
            crop_ages.append(age)
    if not keep:
        raise InputError(settings.csv, f"no row names a video of {settings.root} (rows: video file name or stem,age)")
    chosen = FaceCrops(crops.images[keep], crops.landmarks[keep], [crops.sources[i] for i in keep])
    return AgedFaces(chosen, np.array(crop_ages, np.float32))


# ---- dataset ------------------------------------------------------------------------------


class FaceAgeDataset(Dataset):
    """Items ``{"image": float (3, S, S) in [-1, 1], "group": long}`` of uint8 crops
    ``images (N, S, S, 3)`` and their age ``groups (N,)``."""

    def __init__(self, images: np.ndarray, groups: np.ndarray) -> None:
        if len(images) != len(groups):
            raise ValueError(f"{len(images)} images but {len(groups)} groups")
        self.images = images
        self.groups = np.asarray(groups, np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = to_tensor(self.images[index])
        return {"image": image, "group": torch.tensor(self.groups[index])}
