"""Extractors on real photos and clips: accuracy, gaps, empty results, weights loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import shared
from vidgan.errors import MissingWeightsError
from vidgan.io import read_image
from vidgan.keypoints import COCO17, IBUG68
from vidgan.keypoints.body import KeypointRCNN, MediaPipePose
from vidgan.keypoints.detect import FaceDetector
from vidgan.keypoints.extract import ExtractSettings, extract_video
from vidgan.keypoints.face import FAN_WEIGHTS, DlibLandmarks, FanLandmarks, MeshLandmarks
from vidgan.keypoints.track import box_iou


def read_pts(path) -> np.ndarray:
    """iBUG .pts: 1-based x y per line between braces -> 0-based (68, 2)."""
    body = path.read_text().split("{")[1].split("}")[0]
    return np.array([[float(v) for v in line.split()] for line in body.strip().splitlines()]) - 1


@pytest.fixture(scope="module")
def breakingbad():
    return read_image(shared("faces/breakingbad.jpg")), read_pts(shared("faces/breakingbad.pts"))


def nme(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean point error over the 300-W inter-ocular distance (outer eye corners 36 and 45)."""
    return float(np.linalg.norm(predicted - truth, axis=1).mean() / np.linalg.norm(truth[36] - truth[45]))


def test_offline_68_point_default_reaches_5_percent_nme(breakingbad):
    image, truth = breakingbad
    boxes = FaceDetector("dlib", max_side=2000, upsample=1).detect(image)
    assert len(boxes) >= 1
    landmarks = DlibLandmarks()(image, boxes)
    inside = [(truth[:, 0] > b[0]) & (truth[:, 0] < b[2]) for b in boxes]
    face = int(np.argmax([m.mean() for m in inside]))  # the annotated face among several
    error = nme(landmarks[face, :, :2], truth)
    pupils = np.linalg.norm(truth[36:42].mean(0) - truth[42:48].mean(0))
    print(f"\nNME breakingbad.jpg (dlib 68): {error:.2%} of outer-eye-corner distance, "
          f"{np.linalg.norm(landmarks[face, :, :2] - truth, axis=1).mean() / pupils:.2%} of pupil distance")
    assert error <= 0.05


def test_mediapipe_pose_gives_an_upright_coco_skeleton():
    image = read_image(shared("faces/musepose_ref_fullbody.png"))
    points, boxes = MediaPipePose()(image)
    assert points.shape == (1, 17, 3) and boxes.shape == (1, 5)
    y = {name: points[0, COCO17.index(name), 1] for name in ("nose", "left_shoulder", "left_hip", "left_knee", "left_ankle")}
    assert y["nose"] < y["left_shoulder"] < y["left_hip"] < y["left_knee"] < y["left_ankle"]
    assert (points[0, :, 2] > 0.5).sum() >= 12


def test_face_mesh_has_478_points_on_the_face():
    image = read_image(shared("faces/single_face.jpg"))
    mesh = MeshLandmarks().detect(image)
    box = FaceDetector("mediapipe").detect(image)[0]
    assert mesh.shape == (1, 478, 3)
    inside = ((mesh[0, :, 0] > box[0] - 20) & (mesh[0, :, 0] < box[2] + 20)).mean()
    assert inside > 0.95


def test_multi_face_photo_gives_one_box_per_face():
    image = read_image(shared("faces/multi_face.jpg"))
    boxes = FaceDetector("mediapipe").detect(image)
    assert len(boxes) >= 3
    overlaps = box_iou(boxes, boxes)[~np.eye(len(boxes), dtype=bool)]
    assert overlaps.max() < 0.3  # distinct faces


def test_face_leaving_the_frame_leaves_a_gap_not_garbage():
    tracks = extract_video(shared("videos/face_then_noface.mov"), "face")
    assert len(tracks) == 1
    track = tracks[0]
    seen = track.detected_frames
    assert len(track) == 169 and 30 < seen.sum() < 160
    assert seen[:10].all() and not seen[-10:].any()
    assert np.isnan(track.xy[~seen]).all() and (track.confidence[~seen] == 0).all()
    assert np.isfinite(track.xy[seen]).all()


def test_face_entering_the_frame_starts_with_a_gap():
    track = extract_video(shared("videos/noface_then_face.mov"), "face")[0]
    seen = track.detected_frames
    assert not seen[:10].any() and seen[-20:].mean() > 0.8


def test_video_without_faces_gives_an_empty_result():
    assert extract_video(shared("videos/no_face.mp4"), "face") == []


def test_crowd_body_pose_keeps_the_primary_person_only():
    tracks = extract_video(shared("videos/pedestrians_vtest.avi"), "body", stop=60)
    assert len(tracks) <= 1
    with pytest.raises(ValueError, match="backend=rcnn"):
        extract_video(shared("videos/pedestrians_vtest.avi"), settings=ExtractSettings(what="body", max_people=3), stop=2)


def test_missing_fan_weights_name_the_file_and_folder(tmp_path):
    with pytest.raises(MissingWeightsError) as error:
        FanLandmarks(weights=tmp_path)
    assert FAN_WEIGHTS["2d"] in str(error.value) and str(tmp_path) in str(error.value)


def test_missing_rcnn_weights_name_the_file(tmp_path):
    with pytest.raises(MissingWeightsError, match="keypointrcnn_resnet50_fpn_coco-fc266e95.pth"):
        KeypointRCNN(weights=tmp_path)


def test_fan_loads_local_weights_without_network(tmp_path, breakingbad):
    """Real loading code on a weights file we make: a randomly initialised FAN saved under
    face-alignment's file name loads from the given folder, and predicts 68 points."""
    from face_alignment.models import FAN

    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), tmp_path / FAN_WEIGHTS["2d"])
    model = FanLandmarks(weights=tmp_path)
    image, truth = breakingbad
    box = np.array([[truth[:, 0].min(), truth[:, 1].min(), truth[:, 0].max(), truth[:, 1].max(), 1.0]], np.float32)
    landmarks = model(image, box)
    assert landmarks.shape == (1, 68, 3) and np.isfinite(landmarks).all()
    assert model.skeleton is IBUG68


def test_dlib_finds_a_close_up_whose_chin_touches_the_frame_edge():
    """talking_head_lp_d6: a face filling a 480x480 frame; HOG alone misses many of its frames,
    the padded second search finds every sampled one, inside the frame."""
    from vidgan.io import VideoReader

    frames = [f for i, f in enumerate(VideoReader(shared("videos/talking_head_lp_d6.mp4")).frames(0, 1008)) if i % 40 == 0]
    detector = FaceDetector("dlib")
    boxes = [detector.detect(frame) for frame in frames]
    assert all(len(b) for b in boxes)
    widths = np.array([b[0, 2] - b[0, 0] for b in boxes])
    assert (widths > 120).all() and all(-40 < b[0, 0] and b[0, 2] < 520 for b in boxes)


def test_the_kept_track_is_the_most_present_face_not_a_large_glimpse():
    from vidgan.keypoints.track import IoUTracker

    tracker = IoUTracker(max_missed=2)
    for t in range(40):
        boxes = [[10, 10, 60, 60, 0.9]]  # a small face on screen throughout
        if 5 <= t < 8:
            boxes.append([200, 100, 400, 300, 0.9])  # a large face for three frames
        tracker.update(np.array(boxes, np.float32))
    [kept] = tracker.track_boxes(1).values()
    assert np.isfinite(kept[:, 0]).all() and kept[0, 2] == 60
