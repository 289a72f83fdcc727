"""Face landmark extractors: iBUG-68 (dlib offline default, FAN with local weights) and the
dense mediapipe face mesh. Each maps one RGB frame and its face boxes to ``(N, K, 3)``."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from vidgan.keypoints.skeletons import (
    FACE_MESH_POINTS,
    IBUG68,
    Skeleton,
    face_mesh_skeleton,
)
from vidgan.keypoints.weights import packaged_dlib_model
from vidgan.weights import find_weights

FaceBackend = Literal["dlib", "fan", "mesh"]

#: face-alignment's file names in torch's checkpoints folder.
FAN_WEIGHTS = {"2d": "2DFAN4-11f355bf06.pth.tar", "3d": "3DFAN4-7835d9f11d.pth.tar"}
FAN_DEPTH_WEIGHTS = "depth-2a464da4ea.pth.tar"


class DlibLandmarks:
    """dlib's 68-point shape predictor (iBUG 300-W), shipped by face-recognition-models.

    Works offline with no download. Confidence is the face box's detection score."""

    skeleton: Skeleton = IBUG68

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(packaged_dlib_model("shape_predictor_68_face_landmarks.dat")))

    def __call__(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """RGB frame ``(H, W, 3)`` and boxes ``(N, 5)`` -> landmarks ``(N, 68, 3)``."""
        result = np.zeros((len(boxes), 68, 3), np.float32)
        for row, (x0, y0, x1, y1, score) in enumerate(boxes):
            rect = self._dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1)
            shape = self._predictor(frame, rect)
            result[row, :, :2] = [(p.x, p.y) for p in shape.parts()]
            result[row, :, 2] = score
        return result

    def __reduce__(self):
        return (DlibLandmarks, ())


class FanLandmarks:
    """face-alignment's FAN (2-D or 3-D, x/y kept) with weights from local disk only.

    ``weights``: the FAN file or its folder; default ``$TORCH_HOME/hub/checkpoints``. A missing
    file raises MissingWeightsError naming the file and the folder."""

    skeleton: Skeleton = IBUG68

    def __init__(self, *, kind: Literal["2d", "3d"] = "2d", weights: str | os.PathLike[str] | None = None,
                 device: str = "cpu") -> None:
        import face_alignment

        self.kind, self.weights, self.device = kind, weights, device
        files = [find_weights(FAN_WEIGHTS[kind], weights, what=f"face-alignment {kind.upper()} FAN")]
        if kind == "3d":
            files.append(find_weights(FAN_DEPTH_WEIGHTS, weights, what="face-alignment depth"))
        landmarks_type = face_alignment.LandmarksType.TWO_D if kind == "2d" else face_alignment.LandmarksType.THREE_D
        # face_detector="dlib" only because it needs no download: boxes come from vidgan's detector.
        with _torch_hub_holding(files), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*detector is deprecated.*")
            self._model = face_alignment.FaceAlignment(
                landmarks_type, device=device, flip_input=False, face_detector="dlib", compile=False
            )

    def __call__(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """RGB frame ``(H, W, 3)`` and boxes ``(N, 5)`` -> landmarks ``(N, 68, 3)``."""
        if not len(boxes):
            return np.zeros((0, 68, 3), np.float32)
        # face-alignment raises TypeError on float32 boxes under torch 2.14: pass float64
        detected = [box.astype(np.float64) for box in boxes]
        landmarks, scores, _ = self._model.get_landmarks_from_image(
            frame, detected_faces=detected, return_landmark_score=True
        )
        result = np.zeros((len(boxes), 68, 3), np.float32)
        for row, (points, score) in enumerate(zip(landmarks, scores)):
            result[row, :, :2] = points[:, :2]
            result[row, :, 2] = np.clip(np.asarray(score, np.float32).reshape(-1), 0, 1)
        return result

    def __reduce__(self):
        return (_rebuild_fan, (self.kind, self.weights, self.device))


def _rebuild_fan(kind, weights, device) -> FanLandmarks:
    return FanLandmarks(kind=kind, weights=weights, device=device)


class _torch_hub_holding:
    """Point torch.hub at a temporary folder whose checkpoints/ links the given files, so
    face-alignment finds them and never downloads."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __enter__(self) -> None:
        import torch

        # the raw setting (None: follow TORCH_HOME), so that leaving restores exactly what was there
        self._previous = torch.hub._hub_dir
        self._folder = tempfile.TemporaryDirectory(prefix="vidgan-hub-")
        checkpoints = Path(self._folder.name) / "checkpoints"
        checkpoints.mkdir()
        for file in self.files:
            (checkpoints / file.name).symlink_to(file.resolve())
        torch.hub.set_dir(self._folder.name)

    def __exit__(self, *exc) -> None:
        import torch

        torch.hub._hub_dir = self._previous
        self._folder.cleanup()


class MeshLandmarks:
    """mediapipe face mesh: 478 points (468 + irises) per face; finds its own faces.

    Confidence is 1 for a found face. ``boxes`` are ignored; use :meth:`detect`."""

    def __init__(self, *, max_faces: int = 4, min_score: float = 0.5) -> None:
        import mediapipe as mp

        self.max_faces, self.min_score = max_faces, min_score
        self.skeleton = face_mesh_skeleton()
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_score,
        )

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """Mesh points ``(N, 478, 3)`` of every face in an RGB frame."""
        height, width = frame.shape[:2]
        faces = self._mesh.process(frame).multi_face_landmarks or []
        result = np.zeros((len(faces), FACE_MESH_POINTS, 3), np.float32)
        for row, face in enumerate(faces):
            result[row, :, :2] = [(p.x * width, p.y * height) for p in face.landmark]
            result[row, :, 2] = 1.0
        return result

    def __reduce__(self):
        return (_rebuild_mesh, (self.max_faces, self.min_score))


def _rebuild_mesh(max_faces, min_score) -> MeshLandmarks:
    return MeshLandmarks(max_faces=max_faces, min_score=min_score)


def points_to_boxes(points: np.ndarray) -> np.ndarray:
    """Bounding boxes ``(N, 5)`` of landmark sets ``(N, K, 3)`` (score = mean confidence)."""
    xy = points[..., :2]
    return np.concatenate(
        [xy.min(axis=1), xy.max(axis=1), points[..., 2].mean(axis=1, keepdims=True)], axis=1
    ).astype(np.float32)
