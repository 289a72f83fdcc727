"""Keypoints of a whole video: decode -> detect -> track -> landmarks -> one Keypoints per track."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vidgan.io import VideoReader
from vidgan.keypoints.keypoints import Keypoints
from vidgan.keypoints.track import IoUTracker
from vidgan.progress import progress

What = Literal["body", "face", "mesh"]

#: Default backend of each kind of keypoints (all offline, no download).
DEFAULT_BACKENDS = {"body": "mediapipe", "face": "dlib", "mesh": "mediapipe"}


@dataclass(frozen=True)
class ExtractSettings:
    """What to extract and how. ``max_people``: keep the largest tracks (body default 1, the
    primary person); ``min_track_frames``: drop tracks seen in fewer frames (spurious hits)."""

    what: What = "face"
    backend: str | None = None
    detector: str = "dlib"
    max_people: int | None = None
    min_track_frames: int = 3
    weights: str | None = None
    device: str = "cpu"
    threads: int | None = None  # decoder threads (default: usable cores + 1)

    def __post_init__(self) -> None:
        if self.max_people is not None and self.max_people < 1:
            raise ValueError(f"max_people must be >= 1 (or unset), got {self.max_people}")
        if self.min_track_frames < 1:
            raise ValueError(f"min_track_frames must be >= 1, got {self.min_track_frames}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 (or unset), got {self.threads}")


class FrameKeypointer:
    """One frame -> ``(points (N, K, 3), boxes (N, 5))`` for every person/face in it.

    A stage-like callable: models load once in ``__init__``; picklable (models rebuild)."""

    def __init__(self, settings: ExtractSettings) -> None:
        self.settings = settings
        backend = settings.backend or DEFAULT_BACKENDS[settings.what]
        if settings.what == "body":
            from vidgan.keypoints.body import KeypointRCNN, MediaPipePose

            if backend == "mediapipe":
                if (settings.max_people or 1) > 1:
                    raise ValueError("mediapipe pose finds one person; use backend=rcnn for max_people > 1")
                self._model = MediaPipePose()
            elif backend == "rcnn":
                self._model = KeypointRCNN(weights=settings.weights, device=settings.device)
            else:
                raise ValueError(f"unknown body backend {backend!r}; use mediapipe or rcnn")
            self._detector = None
        elif settings.what == "face":
            from vidgan.keypoints.detect import FaceDetector
            from vidgan.keypoints.face import DlibLandmarks, FanLandmarks

            if backend == "dlib":
                self._model = DlibLandmarks()
            elif backend in ("fan", "fan3d"):
                self._model = FanLandmarks(kind="3d" if backend == "fan3d" else "2d", weights=settings.weights,
                                           device=settings.device)
            else:
                raise ValueError(f"unknown face backend {backend!r}; use dlib, fan or fan3d")
            self._detector = FaceDetector(settings.detector)
        elif settings.what == "mesh":
            from vidgan.keypoints.face import MeshLandmarks

            if backend != "mediapipe":
                raise ValueError(f"unknown mesh backend {backend!r}; use mediapipe")
            self._model = MeshLandmarks()
            self._detector = None
        else:
            raise ValueError(f"unknown keypoints {settings.what!r}; use body, face or mesh")
        self.skeleton = self._model.skeleton

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.settings.what == "face":
            boxes = self._detector.detect(frame)
            return self._model(frame, boxes), boxes
        if self.settings.what == "mesh":
            from vidgan.keypoints.face import points_to_boxes

            points = self._model.detect(frame)
            return points, points_to_boxes(points)
        return self._model(frame)


def extract_video(
    path: str | os.PathLike[str],
    what: What = "face",
    *,
    settings: ExtractSettings | None = None,
    start: int = 0,
    stop: int | None = None,
    keypointer: FrameKeypointer | None = None,
) -> list[Keypoints]:
    """Keypoints of every tracked person/face in frames ``start..stop-1`` of a video.

    Each returned track covers every frame of the range: frames where it was not seen are
    missing (NaN, confidence 0). A video without any face/person gives an empty list.
    """
    settings = settings or ExtractSettings(what=what)
    keypointer = keypointer or FrameKeypointer(settings)
    reader = VideoReader(path, threads=settings.threads)
    tracker = IoUTracker()
    per_track: dict[int, dict[int, np.ndarray]] = {}
    indices = []
    stop = len(reader) if stop is None else min(stop, len(reader))
    for index, frame in progress(reader.indexed_frames(start, stop), total=stop - start, desc=f"{settings.what} {reader.video_id}"):
        points, boxes = keypointer(frame)
        for row, track_id in enumerate(tracker.update(boxes)):
            per_track.setdefault(track_id, {})[len(indices)] = points[row]
        indices.append(index)
    max_people = settings.max_people if settings.max_people is not None else (1 if settings.what == "body" else None)
    kept = tracker.track_boxes(max_people)
    tracks = []
    for new_id, track_id in enumerate(t for t in kept if len(per_track.get(t, {})) >= settings.min_track_frames):
        track = Keypoints.missing(
            len(indices), keypointer.skeleton, frame_index=np.asarray(indices), video_id=reader.video_id,
            fps=reader.info.fps, image_size=reader.info.size, track_id=new_id,
        )
        points = track.points.copy()
        for row, value in per_track[track_id].items():
            points[row] = value
        tracks.append(track.with_points(points))
    return tracks
