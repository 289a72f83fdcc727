"""Aligned face crops with their landmarks: the training data of the face-editing models.

Every face model of vidgan (Age-cGAN, TP-GAN) sees faces aligned one way: the similarity of
:func:`vidgan.keypoints.align.face_transform` (eye centres, nose tip, mouth corners onto the
ArcFace template) at the model's ``crop_size`` and ``crop_scale``; the editing pipeline crops
video frames the same way, so a model never sees a face framed differently than it was trained.

Sources:

- :func:`align_images`: image files (any face photos: UTKFace, CACD, Multi-PIE...) ->
  dlib detection + 68 landmarks (offline) -> the largest face's aligned crop;
- :func:`layout_faces`: a ``vidgan preprocess --task faces`` dataset, re-aligned to the model's
  geometry from the landmarks it stored (any set of face videos).

Both give :class:`FaceCrops`: uint8 ``(N, S, S, 3)`` crops and float32 ``(N, 68, 2)`` landmarks
in crop pixels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidgan.data.layout import read_manifest
from vidgan.errors import InputError
from vidgan.io import VideoReader, read_image
from vidgan.keypoints import load_tracks
from vidgan.keypoints.align import apply_transform, crop_faces, face_transform
from vidgan.keypoints.extract import ExtractSettings, FrameKeypointer
from vidgan.progress import progress


@dataclass
class FaceCrops:
    """Aligned crops ``images`` uint8 ``(N, S, S, 3)``, ``landmarks`` float32 ``(N, 68, 2)`` in crop
    pixels, and ``sources`` (file or ``video:frame`` of each crop)."""

    images: np.ndarray
    landmarks: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.images)


def align_frames(frames: np.ndarray, landmarks: np.ndarray, crop_size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Crops uint8 ``(N, S, S, 3)`` of RGB ``frames (N, H, W, 3)`` aligned by iBUG-68
    ``landmarks (N, 68, 2)`` (image pixels), and those landmarks in crop pixels."""
    points = torch.from_numpy(np.ascontiguousarray(landmarks[..., :2], dtype=np.float64))
    transforms = face_transform(points, crop_size, scale)
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).double()
    crops = crop_faces(images, transforms, crop_size).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return crops, apply_transform(transforms, points).float().numpy()


def align_images(paths: Sequence[str | os.PathLike[str]], crop_size: int, scale: float = 1.0,
                 keypointer: FrameKeypointer | None = None) -> tuple[FaceCrops, list[tuple[str, str]]]:
    """The largest face of each image, aligned; and ``(path, reason)`` of every image skipped
    (unreadable, or no face found)."""
    keypointer = keypointer or FrameKeypointer(ExtractSettings(what="face"))
    images, landmarks, sources, skipped = [], [], [], []
    for path in progress(paths, desc="align faces"):
        try:
            image = read_image(path)
        except InputError as error:
            skipped.append((str(path), error.problem))
            continue
        points, boxes = keypointer(image)
        if len(points) == 0:
            skipped.append((str(path), "no face found"))
            continue
        largest = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        crop, crop_points = align_frames(image[None], points[largest : largest + 1, :, :2], crop_size, scale)
        images.append(crop[0])
        landmarks.append(crop_points[0])
        sources.append(str(path))
    return _crops(images, landmarks, sources, crop_size), skipped


def layout_faces(root: str | os.PathLike[str], crop_size: int, scale: float = 1.0, stride: int = 1) -> FaceCrops:
    """Every ``stride``-th frame of every face track of a ``vidgan preprocess --task faces``
    dataset, cropped again from the source video at the model's geometry."""
    root = Path(root)
    folders = sorted(p for p in (root / "videos").glob("*") if read_manifest(p) is not None)
    if not folders:
        raise InputError(root, "no complete video folder (expected a `vidgan preprocess --task faces` dataset)")
    images, landmarks, sources = [], [], []
    for folder in folders:
        manifest = read_manifest(folder)
        if manifest.get("task") != "faces":
            raise InputError(folder, f"task is {manifest.get('task')!r}, not 'faces'")
        source = manifest["source"]["path"]
        tracks = load_tracks(folder / "keypoints.npz")
        wanted: dict[int, np.ndarray] = {}
        for track in tracks:
            usable = track.visible.all(axis=1)
            for row in np.flatnonzero(usable)[::stride]:
                wanted.setdefault(int(track.frame_index[row]), track.xy[row])
        if not wanted:
            continue
        reader = VideoReader(source)
        frames = {index: frame for index, frame in reader.indexed_frames(min(wanted), max(wanted) + 1) if index in wanted}
        order = sorted(frames)
        crops, points = align_frames(np.stack([frames[i] for i in order]), np.stack([wanted[i] for i in order]),
                                     crop_size, scale)
        images.extend(crops)
        landmarks.extend(points)
        sources.extend(f"{source}:{i}" for i in order)
    return _crops(images, landmarks, sources, crop_size)


def _crops(images: list, landmarks: list, sources: list[str], crop_size: int) -> FaceCrops:
    if not images:
        return FaceCrops(np.zeros((0, crop_size, crop_size, 3), np.uint8), np.zeros((0, 68, 2), np.float32), [])
    return FaceCrops(np.stack(images), np.stack(landmarks).astype(np.float32), sources)
