"""Face detectors: boxes ``(N, 5)`` = x0, y0, x1, y1, score per frame, in pixels."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

FaceDetectorBackend = Literal["dlib", "mediapipe"]
#: Border added around a frame (share of its longer side) before dlib searches it.
DLIB_PAD = 0.15


class FaceDetector:
    """Detect faces in RGB uint8 frames.

    ``dlib``: HOG + linear SVM (the box convention dlib's 68-point predictor was trained on),
    run on a copy scaled to ``max_side`` pixels (``upsample`` doubles it for small faces) with
    a border of :data:`DLIB_PAD` of its side around it (edge pixels repeated): a close-up whose
    chin or forehead touches the frame's edge leaves HOG's window no margin without it (a search
    only where the plain one finds nothing would make the result hang on dlib's scores near the
    threshold, which vary in their last digits with the threads OpenCV is given).
    ``mediapipe``: BlazeFace full-range, ~10x faster, boxes from forehead to chin.
    """

    def __init__(
        self,
        backend: FaceDetectorBackend = "dlib",
        *,
        max_side: int = 640,
        upsample: int = 0,
        min_score: float = 0.5,
    ) -> None:
        self.backend, self.max_side, self.upsample, self.min_score = backend, max_side, upsample, min_score
        if backend == "dlib":
            import dlib

            self._dlib = dlib.get_frontal_face_detector()
        elif backend == "mediapipe":
            import mediapipe as mp

            self._mediapipe = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=min_score
            )
        else:
            raise ValueError(f"unknown face detector {backend!r}; use dlib or mediapipe")

    def __call__(self, frames: np.ndarray) -> list[np.ndarray]:
        """``(B, H, W, 3)`` uint8 -> one ``(N, 5)`` float32 array of boxes per frame."""
        return [self.detect(frame) for frame in frames]

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """Boxes of one RGB frame, highest score first."""
        boxes = self._dlib_boxes(frame) if self.backend == "dlib" else self._mediapipe_boxes(frame)
        return boxes[np.argsort(-boxes[:, 4])] if len(boxes) else boxes

    def _dlib_boxes(self, frame: np.ndarray) -> np.ndarray:
        scale = min(1.0, self.max_side / max(frame.shape[:2]))
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
        pad = round(DLIB_PAD * max(small.shape[:2]))
        rects, scores, _ = self._dlib.run(cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE),
                                          self.upsample, 0.0)
        boxes = [
            ((r.left() - pad) / scale, (r.top() - pad) / scale, (r.right() + 1 - pad) / scale,
             (r.bottom() + 1 - pad) / scale, s)
            for r, s in zip(rects, scores)
        ]
        # dlib scores are SVM margins (~0..3); map to (0, 1) so thresholds mean the same everywhere
        result = np.array(boxes, np.float32).reshape(-1, 5)
        result[:, 4] = 1 / (1 + np.exp(-2 * result[:, 4]))
        return result[result[:, 4] >= self.min_score]

    def _mediapipe_boxes(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        result = self._mediapipe.process(frame)
        boxes = []
        for detection in result.detections or []:
            box = detection.location_data.relative_bounding_box
            x0, y0 = box.xmin * width, box.ymin * height
            boxes.append((x0, y0, x0 + box.width * width, y0 + box.height * height, detection.score[0]))
        return np.array(boxes, np.float32).reshape(-1, 5)

    def __reduce__(self):
        """Pickle the settings only; the model is rebuilt on unpickling (Ray actors)."""
        return (_rebuild, (self.backend, self.max_side, self.upsample, self.min_score))


def _rebuild(backend, max_side, upsample, min_score) -> FaceDetector:
    return FaceDetector(backend, max_side=max_side, upsample=upsample, min_score=min_score)
