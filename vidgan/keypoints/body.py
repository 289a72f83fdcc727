"""Body pose extractors: mediapipe pose (one person, ships its model) and torchvision
keypoint R-CNN (several people, weights from local disk). Output COCO-17 ``(N, 17, 3)``."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

from vidgan.keypoints.skeletons import COCO17, MEDIAPIPE_TO_COCO, Skeleton
from vidgan.weights import find_weights

BodyBackend = Literal["mediapipe", "rcnn"]

KEYPOINT_RCNN_WEIGHTS = "keypointrcnn_resnet50_fpn_coco-fc266e95.pth"


class MediaPipePose:
    """mediapipe ``solutions.pose`` (33 landmarks, mapped to COCO-17); one person per frame,
    the most prominent one. Runs each frame independently (``static_image_mode``), so the
    result does not depend on which frames a batch holds. Confidence = landmark visibility."""

    skeleton: Skeleton = COCO17
    max_people = 1

    def __init__(self, *, model_complexity: int = 1, min_score: float = 0.5) -> None:
        import mediapipe as mp

        self.model_complexity, self.min_score = model_complexity, min_score
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=model_complexity, min_detection_confidence=min_score
        )

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB frame -> ``(keypoints (N, 17, 3), boxes (N, 5))``, N = 0 or 1."""
        height, width = frame.shape[:2]
        landmarks = self._pose.process(frame).pose_landmarks
        if landmarks is None:
            return np.zeros((0, 17, 3), np.float32), np.zeros((0, 5), np.float32)
        every = np.array([(p.x * width, p.y * height, p.visibility) for p in landmarks.landmark], np.float32)
        points = every[list(MEDIAPIPE_TO_COCO)][None]
        xy = every[:, :2]
        box = np.array([[*xy.min(axis=0), *xy.max(axis=0), every[:, 2].mean()]], np.float32)
        return points, box

    def __reduce__(self):
        return (_rebuild_mediapipe_pose, (self.model_complexity, self.min_score))


def _rebuild_mediapipe_pose(model_complexity, min_score) -> MediaPipePose:
    return MediaPipePose(model_complexity=model_complexity, min_score=min_score)


class KeypointRCNN:
    """torchvision keypoint R-CNN (COCO-17, several people) with weights from local disk:
    ``weights`` (file or folder) or ``$TORCH_HOME/hub/checkpoints/keypointrcnn_resnet50_fpn_coco-fc266e95.pth``."""

    skeleton: Skeleton = COCO17

    def __init__(self, *, weights: str | os.PathLike[str] | None = None, device: str = "cpu",
                 min_score: float = 0.7, max_people: int = 10) -> None:
        import torch
        import torchvision

        self.weights, self.device, self.min_score, self.max_people = weights, device, min_score, max_people
        path = find_weights(KEYPOINT_RCNN_WEIGHTS, weights, what="torchvision keypoint R-CNN")
        model = torchvision.models.detection.keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self._model = model.eval().to(device)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB frame -> ``(keypoints (N, 17, 3), boxes (N, 5))`` for people above ``min_score``."""
        import torch

        image = torch.from_numpy(frame).to(self.device).permute(2, 0, 1).float() / 255
        with torch.inference_mode():
            output = self._model([image])[0]
        keep = (output["scores"] >= self.min_score).nonzero().flatten()[: self.max_people]
        points = output["keypoints"][keep].cpu().numpy().astype(np.float32)
        points[..., 2] = torch.sigmoid(output["keypoints_scores"][keep]).cpu().numpy()
        boxes = torch.cat([output["boxes"][keep], output["scores"][keep, None]], dim=1).cpu().numpy()
        return points, boxes.astype(np.float32)

    def __reduce__(self):
        return (_rebuild_rcnn, (self.weights, self.device, self.min_score, self.max_people))


def _rebuild_rcnn(weights, device, min_score, max_people) -> KeypointRCNN:
    return KeypointRCNN(weights=weights, device=device, min_score=min_score, max_people=max_people)
