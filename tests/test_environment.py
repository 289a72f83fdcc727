"""One `pip install` gives working ray.data, cv2 (4.x with Haar cascades), mediapipe and torch."""

from __future__ import annotations

import numpy as np


def test_ray_data_imports_with_pyarrow():
    import pyarrow
    import ray.data

    assert int(pyarrow.__version__.split(".")[0]) < 26
    assert callable(ray.data.from_items)


def test_opencv_is_4x_with_haar_cascades():
    import cv2

    assert cv2.__version__.startswith("4.")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert not cascade.empty()


def test_mediapipe_ships_its_models():
    import mediapipe as mp

    assert mp.__version__ == "0.10.21"
    image = np.zeros((64, 64, 3), np.uint8)
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        assert pose.process(image).pose_landmarks is None  # the model loaded and ran
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True) as mesh:
        assert mesh.process(image).multi_face_landmarks is None


def test_torch_torchvision_kornia_av_face_alignment_import_together():
    import av
    import face_alignment
    import kornia
    import torch
    import torchvision

    assert torch.__version__.startswith("2.14.1")
    assert torchvision.__version__.startswith("0.29.1")
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]
    assert kornia.filters.sobel(torch.zeros(1, 1, 8, 8)).shape == (1, 1, 8, 8)
    assert "libx264" in av.codecs_available
    assert face_alignment.LandmarksType.TWO_D is not None
