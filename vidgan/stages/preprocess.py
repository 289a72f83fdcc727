"""The stages of dataset preprocessing that need the models: extract and smooth tracks -> write crops
(probing comes first, from :mod:`vidgan.stages.probe`).

Each row is one whole source video (``video_id``, ``source``), so no stage depends on the order
in which a distributed dataset delivers rows. A failure is recorded in the row (``status``
``failed`` and ``error``), never raised: the other videos go on.
"""

from __future__ import annotations

import math
import os
import shutil
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from vidgan.data.layout import video_dir, write_manifest
from vidgan.errors import VidganError
from vidgan.io import VideoReader, VideoWriter, probe
from vidgan.keypoints import COCO17, IBUG68, Keypoints, Skeleton, Smoother, save_tracks
from vidgan.keypoints.align import box_transform, crop_faces, face_transform
from vidgan.keypoints.extract import ExtractSettings, FrameKeypointer, extract_video
from vidgan.keypoints.render import render_face_edges, render_skeleton
from vidgan.keypoints.track import stable_crop_boxes
from vidgan.stages.base import (
    Batch,
    Resources,
    Stage,
    batch_to_rows,
    limited_threads,
    rows_to_batch,
)

Task = Literal["faces", "bodies"]


@dataclass(frozen=True)
class PreprocessSettings:
    """How videos become training samples; recorded in every manifest (a change re-does them)."""

    task: Task = "faces"
    crop_size: int = 256
    smooth: str = "kalman"
    maps: bool = False
    detector: str = "dlib"
    backend: str | None = None
    max_people: int | None = None
    min_track_frames: int = 8
    face_scale: float = 1.6
    body_scale: float = 1.2
    clip_length: int = 16
    crf: int = 18
    max_frames: int | None = None  # only the first N frames of each video (quick runs, tests)
    device: str = "cpu"  # torch device of the fan / rcnn backends; "cuda" asks Ray for a GPU per actor
    threads: int = 1  # threads per worker (decode, encode, torch, OpenCV): scale out with workers

    def __post_init__(self) -> None:
        for key in ("crop_size", "min_track_frames", "clip_length", "threads"):
            if getattr(self, key) < 1:
                raise ValueError(f"settings.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("max_people", "max_frames"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"settings.{key} must be >= 1 (or null), got {getattr(self, key)}")
        for key in ("face_scale", "body_scale"):
            if not (math.isfinite(getattr(self, key)) and getattr(self, key) > 0):
                raise ValueError(f"settings.{key} must be a number > 0, got {getattr(self, key)}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"settings.crf must be in 0..51, got {self.crf}")

    @property
    def skeleton(self) -> Skeleton:
        """The skeleton the task's extractor produces."""
        return IBUG68 if self.task == "faces" else COCO17

    def extract_settings(self) -> ExtractSettings:
        return ExtractSettings(
            what="face" if self.task == "faces" else "body", backend=self.backend, detector=self.detector,
            max_people=self.max_people, min_track_frames=self.min_track_frames, device=self.device,
            threads=self.threads,
        )


class ExtractTracks(Stage):
    """Detect, track and smooth the keypoints of each video (models loaded once per worker)."""

    resources = Resources(num_cpus=1.0, batch_size=1, concurrency=2, stateful=True)

    def __init__(self, settings: dict) -> None:
        self.settings = PreprocessSettings(**settings)
        self.keypointer = FrameKeypointer(self.settings.extract_settings())
        self.smoother = Smoother(self.settings.smooth) if self.settings.smooth != "none" else None

    def __call__(self, batch: Batch) -> Batch:
        with limited_threads(self.settings.threads):
            return rows_to_batch([self._extract(row) for row in batch_to_rows(batch)])

    def _extract(self, row: dict) -> dict:
        row["tracks"], row["worker"] = [], worker_name()
        if row["status"] != "todo":
            return row
        try:
            tracks = extract_video(row["source"], settings=self.keypointer.settings, keypointer=self.keypointer,
                                   stop=self.settings.max_frames)
            row["tracks"] = [self.smoother(t) for t in tracks] if self.smoother else tracks
        except (VidganError, OSError) as error:
            row.update(status="failed", error=str(error))
        return row


def worker_name() -> str:
    """``<ray node id>:<pid>`` of the process running a stage (``local:<pid>`` outside Ray)."""
    import ray

    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    return f"{node}:{os.getpid()}"


class WriteSamples(Stage):
    """Write each video's folder of the dataset layout (crops, keypoints, maps, manifest)."""

    resources = Resources(num_cpus=1.0, batch_size=1, concurrency=2, stateful=True)

    def __init__(self, out_dir: str, settings: dict) -> None:
        self.out_dir = out_dir
        self.settings_dict = settings
        self.settings = PreprocessSettings(**settings)

    def __call__(self, batch: Batch) -> Batch:
        with limited_threads(self.settings.threads):
            return rows_to_batch([self._write_row(row) for row in batch_to_rows(batch)])

    def _write_row(self, row: dict) -> dict:
        tracks = row.pop("tracks")
        row["num_tracks"], row["crop_frames"] = 0, 0
        if row["status"] != "todo":
            return row
        try:
            row["crop_frames"] = self._write(row, tracks)
            row["num_tracks"], row["status"] = len(tracks), "written"
        except (VidganError, OSError, ValueError) as error:
            row.update(status="failed", error=str(error))
        return row

    def _write(self, row: dict, tracks: list[Keypoints]) -> int:
        final = video_dir(self.out_dir, row["video_id"])
        for stale in final.parent.glob(f".{final.name}.*.partial"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        partial = final.with_name(f".{final.name}.{os.getpid()}.partial")
        partial.mkdir(parents=True)
        try:
            info = probe(row["source"])
            save_tracks(partial / "keypoints.npz", tracks, skeleton=self.settings.skeleton, video_id=row["video_id"],
                        fps=info.fps, image_size=info.size)
            frames = _write_crops(partial, row["source"], tracks, self.settings)
            write_manifest(partial, {
                "video_id": row["video_id"],
                "source": {"path": str(Path(row["source"]).resolve()), "sha256": row["source_sha256"],
                           "frames": info.frames, "fps": str(info.fps), "height": info.height, "width": info.width},
                "task": self.settings.task,
                "settings": self.settings_dict,
                "tracks": [{"track_id": t.track_id, "crop_frames": int(n)} for t, n in zip(tracks, frames)],
            })
            shutil.rmtree(final, ignore_errors=True)
            os.replace(partial, final)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return int(sum(frames))


def _transforms(track: Keypoints, settings: PreprocessSettings) -> np.ndarray:
    """``(T, 2, 3)`` image -> crop transforms; NaN rows where the track has no usable points."""
    result = np.full((len(track), 2, 3), np.nan)
    if settings.task == "faces":
        usable = np.isfinite(track.xy[:, [36, 39, 42, 45, 30, 48, 54]]).all(axis=(1, 2))
        if usable.any():
            landmarks = torch.from_numpy(track.xy[usable]).double()
            result[usable] = face_transform(landmarks, settings.crop_size, settings.face_scale).numpy()
        return result
    xy = np.where(track.visible[..., None], track.xy, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames give NaN boxes, as wanted
        boxes = np.concatenate([np.nanmin(xy, axis=1), np.nanmax(xy, axis=1)], axis=1)
    crops = stable_crop_boxes(boxes, scale=settings.body_scale)
    usable = np.isfinite(crops).all(axis=1)
    if usable.any():
        result[usable] = box_transform(torch.from_numpy(crops[usable]).double(), settings.crop_size).numpy()
    return result


class _TrackOutput:
    """The crop video (and maps video) of one track, filled clip by clip."""

    def __init__(self, folder: Path, track: Keypoints, fps, settings: PreprocessSettings) -> None:
        self.folder, self.track, self.settings = folder, track, settings
        self.transforms = _transforms(track, settings)
        self.row_of = {int(f): r for r, f in enumerate(track.frame_index) if np.isfinite(self.transforms[r]).all()}
        self.rows: list[int] = []
        name = f"track_{track.track_id}"
        self.crops = VideoWriter(folder / f"{name}.mp4", fps, crf=settings.crf, preset="veryfast",
                                 threads=settings.threads)
        self.maps = (VideoWriter(folder / f"{name}_maps.mp4", fps, crf=settings.crf, preset="veryfast",
                                 threads=settings.threads) if settings.maps else None)

    def add(self, images: torch.Tensor, frame_index: np.ndarray) -> None:
        """Crop the frames of a clip ``(T, 3, H, W)`` (0..255) where this track is present."""
        picks = [(i, self.row_of[int(f)]) for i, f in enumerate(frame_index) if int(f) in self.row_of]
        if not picks:
            return
        clip_rows, track_rows = (list(p) for p in zip(*picks))
        matrices = torch.from_numpy(self.transforms[track_rows]).float()
        crops = crop_faces(images[clip_rows], matrices, self.settings.crop_size)
        self.crops.write_all(_to_uint8(crops / 255))
        if self.maps is not None:
            points = _crop_points(self.track.points[track_rows], self.transforms[track_rows])
            self.maps.write_all(_to_uint8(_render_maps(points, self.track.skeleton, self.settings.crop_size)))
        self.rows.extend(track_rows)

    def finish(self) -> int:
        """Close the videos and write the crop-space keypoints and transforms; frames written."""
        if not self.rows:
            self.abort()
            return 0
        self.crops.close()
        if self.maps is not None:
            self.maps.close()
        rows = np.asarray(self.rows, dtype=np.int64)
        size = self.settings.crop_size
        local = replace(self.track[rows], image_size=(size, size))
        local = local.with_points(_crop_points(local.points, self.transforms[rows]))
        name = f"track_{self.track.track_id}"
        save_tracks(self.folder / f"{name}.npz", [local])
        np.save(self.folder / f"{name}_transforms.npy", self.transforms[rows].astype(np.float32))
        return len(rows)

    def abort(self) -> None:
        self.crops.abort()
        if self.maps is not None:
            self.maps.abort()


def _write_crops(folder: Path, source: str, tracks: list[Keypoints], settings: PreprocessSettings) -> list[int]:
    """Decode ``source`` once, writing every track's crops (and maps); returns frames per track."""
    if not tracks:
        return []
    reader = VideoReader(source, strict=True, threads=settings.threads)
    outputs = [_TrackOutput(folder, track, reader.info.fps, settings) for track in tracks]
    try:
        for clip in reader.clips(settings.clip_length, stop=settings.max_frames):
            images = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float()
            for output in outputs:
                output.add(images, clip.frame_index)
        return [output.finish() for output in outputs]
    except BaseException:
        for output in outputs:
            output.abort()
        raise


def _crop_points(points: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Keypoints ``(T, K, 3)`` mapped into crop pixels by ``transforms (T, 2, 3)``."""
    xy = np.einsum("tij,tkj->tki", transforms[:, :, :2], points[..., :2]) + transforms[:, None, :, 2]
    return np.concatenate([xy, points[..., 2:]], axis=-1).astype(np.float32)


def _render_maps(points: np.ndarray, skeleton, size: int) -> torch.Tensor:
    """Conditioning maps ``(T, 3, s, s)`` in [0, 1]: face edges or the OpenPose skeleton."""
    tensor = torch.from_numpy(np.nan_to_num(points, nan=0.0))
    if skeleton.name == "ibug68":
        return render_face_edges(tensor, (size, size)).expand(-1, 3, -1, -1)
    return render_skeleton(tensor, skeleton, (size, size))


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """``(B, 3, H, W)`` float in [0, 1] -> ``(B, H, W, 3)`` uint8."""
    return (images * 255).clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()
