"""Everybody Dance Now pose normalisation, least-squares similarities, face expression transfer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import shared
from vidgan.keypoints import COCO17, IBUG68, Keypoints
from vidgan.keypoints.normalize import PoseNormalizer, align_similarity, normalize_pose, transfer_expression

# A standing person, COCO-17, one unit from the top of the head (eyes) to the ankles.
PERSON = np.array(
    [
        (0.0, 0.03), (-0.03, 0.0), (0.03, 0.0), (-0.06, 0.02), (0.06, 0.02),  # nose, eyes, ears
        (-0.12, 0.18), (0.12, 0.18), (-0.16, 0.38), (0.16, 0.38), (-0.17, 0.55), (0.17, 0.55),
        (-0.08, 0.52), (0.08, 0.52), (-0.08, 0.76), (0.08, 0.76), (-0.08, 1.0), (0.08, 1.0),
    ]
)
LEFT_ANKLE, LEFT_WRIST = 15, 9


def _walk(ankle_y: np.ndarray, horizon: float, slope: float, center_x: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)``: the person standing on ankle line ``ankle_y``, as tall as a ground plane
    seen in perspective makes them (``slope * (ankle_y - horizon)``), one foot lifted every other frame."""
    height = slope * (ankle_y - horizon)
    points = np.ones((len(ankle_y), 17, 3), np.float32)
    points[..., 0] = center_x[:, None] + PERSON[:, 0] * height[:, None]
    points[..., 1] = ankle_y[:, None] + (PERSON[:, 1] - 1.0) * height[:, None]
    points[1::2, LEFT_ANKLE, 1] -= 0.04 * height[1::2]
    return points


def _dwell_walk_dwell(far: float, near: float, walk: int) -> np.ndarray:
    return np.concatenate([np.full(10, far), np.linspace(far, near, walk), np.full(10, near)])


def _heights(points: np.ndarray) -> np.ndarray:
    return points[:, 15:17, 1].max(axis=1) - points[:, 0:5, 1].min(axis=1)


@pytest.fixture
def videos() -> tuple[Keypoints, Keypoints]:
    """Source walks towards the camera from y 300 (50 px tall) to 600 (200 px); the target, a
    larger framing, from y 250 (120 px) to 500 (320 px)."""
    ankle = _dwell_walk_dwell(300, 600, 40)
    source = _walk(ankle, horizon=200, slope=0.5, center_x=np.linspace(100, 140, len(ankle)))
    source[30, LEFT_ANKLE, 1] = 1000  # one bad detection far below the frame
    source[20] = np.nan  # a frame without the person
    source[25, LEFT_WRIST] = np.nan
    target_ankle = _dwell_walk_dwell(250, 500, 20)
    target = _walk(target_ankle, horizon=100, slope=0.8, center_x=np.full(len(target_ankle), 320.0))
    return (
        Keypoints(source, COCO17, np.arange(len(source)), image_size=(720, 480)),
        Keypoints(target, COCO17, np.arange(len(target)), image_size=(540, 640)),
    )


def test_normalised_source_has_the_target_heights_at_the_far_and_near_positions(videos):
    source, target = videos
    result = normalize_pose(source, target)
    heights, ankles = _heights(result.points), result.points[:, 15:17, 1].max(axis=1)
    far, near = slice(0, 10), slice(50, 60)
    np.testing.assert_allclose(heights[far], 120, rtol=0.02)
    np.testing.assert_allclose(heights[near], 320, rtol=0.02)
    np.testing.assert_allclose(ankles[far], 250, rtol=0.01)
    np.testing.assert_allclose(ankles[near], 500, rtol=0.01)
    assert np.all(np.diff(heights[31:50]) > 0)  # grows as the source nears (after the bad frame 30)
    assert abs(np.nanmedian(result.xy[..., 0]) - 320) < 5
    assert result.image_size == (540, 640)


def test_one_bad_frame_does_not_move_the_ground_line(videos):
    source, target = videos
    normalizer = PoseNormalizer().fit(source, target)
    assert normalizer.source.near_y == pytest.approx(600) and normalizer.source.far_y == pytest.approx(300)
    assert normalizer.source.near_height == pytest.approx(200, rel=1e-4)
    assert normalizer.target.far_height == pytest.approx(120, rel=1e-4)


def test_missing_points_stay_missing(videos):
    source, target = videos
    result = PoseNormalizer().fit(source, target)(source)
    assert np.isnan(result.xy[20]).all() and (result.confidence[20] == 0).all()
    assert np.isnan(result.xy[25, LEFT_WRIST]).all() and result.confidence[25, LEFT_WRIST] == 0
    assert np.isfinite(result.xy[25, :LEFT_WRIST]).all()
    assert np.array_equal(np.isnan(result.points), np.isnan(source.points))


def test_normalising_needs_a_fit_and_a_visible_person(videos):
    source, _ = videos
    with pytest.raises(RuntimeError, match="before fit"):
        PoseNormalizer()(source)
    with pytest.raises(ValueError, match="no frame shows both shoulders"):
        PoseNormalizer().fit(source, Keypoints.missing(5, COCO17))


def test_a_dancer_seen_from_the_hips_up_is_matched_by_the_torso(videos):
    """Ankles in 20 % of the source frames (a few spurious detections at the frame's bottom edge,
    as an upper-body clip gives): no ground line; shoulders and torso land on the target's."""
    _, target = videos
    count = 40
    sway = 30 * np.sin(np.linspace(0, 4 * math.pi, count))
    upper = _walk(np.full(count, 900.0), horizon=300, slope=1.5, center_x=360 + sway)  # 900 px tall, feet below
    upper[:, 13:17] = np.nan  # knees and ankles out of the frame...
    upper[::5, 15, 1] = 715.0  # ...but for a few false ankles at the bottom edge
    upper[::5, 15, [0, 2]] = (360.0, 1.0)
    guessed = upper.copy()
    guessed[:, 13:17] = (360.0, 1500.0, 0.01)  # or legs guessed far below the frame, as mediapipe does
    source = Keypoints(upper, COCO17, np.arange(count), image_size=(720, 720))
    normalizer = PoseNormalizer().fit(source, target)
    assert normalizer.by_torso and not PoseNormalizer().fit(*videos).by_torso
    result = normalizer(source)

    def shoulders_and_torso(track: Keypoints) -> tuple[np.ndarray, np.ndarray]:
        middle = track.xy[:, 5:7].mean(axis=1)
        return middle, np.linalg.norm(track.xy[:, 11:13].mean(axis=1) - middle, axis=-1)

    (moved, torso), (wanted, target_torso) = shoulders_and_torso(result), shoulders_and_torso(target)
    np.testing.assert_allclose(np.median(moved, axis=0), np.median(wanted, axis=0), atol=0.5)
    assert np.median(torso) == pytest.approx(np.median(target_torso), rel=1e-3)
    assert np.nanmin(result.xy[:, :5, 1]) > 0  # the head stays in the target's frame
    from_guesses = PoseNormalizer().fit(Keypoints(guessed, COCO17, np.arange(count), image_size=(720, 720)), target)
    assert from_guesses.by_torso
    assert not from_guesses(Keypoints(guessed, COCO17, np.arange(count))).visible[:, 13:17].any()  # dropped
    assert np.ptp(moved[:, 0]) == pytest.approx(np.ptp(sway) * np.median(target_torso) / np.median(
        shoulders_and_torso(source)[1]), rel=1e-3)  # the sway, scaled, is kept


def _similarity(scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = scale * math.cos(math.radians(degrees)), scale * math.sin(math.radians(degrees))
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_align_similarity_recovers_a_known_transform_ignoring_missing_rows():
    src = np.random.default_rng(0).uniform(-50, 50, (12, 2))
    truth = _similarity(1.7, 30, (5.0, -3.0))
    dst = _apply(truth, src)
    src[3], dst[7] = np.nan, (1e6, -1e6)  # a missing source row; a destination outlier ...
    dst[7] = np.nan  # ... that is missing, hence ignored
    np.testing.assert_allclose(align_similarity(src, dst), truth, atol=1e-9)
    with pytest.raises(ValueError, match="two distinct"):
        align_similarity(np.full((4, 2), np.nan), dst[:4])


def _pts(path) -> np.ndarray:
    """iBUG .pts (1-based) -> ``(68, 3)`` 0-based x, y, confidence 1."""
    body = path.read_text().split("{")[1].split("}")[0]
    xy = np.array(body.split(), np.float64).reshape(-1, 2) - 1
    return np.c_[xy, np.ones(len(xy))]


def test_expression_transfer_adds_the_mouth_opening_scaled_by_the_face_size_ratio():
    neutral = _pts(shared("faces/breakingbad.pts"))
    lower_lip_and_chin = [6, 7, 8, 9, 10, 56, 57, 58, 65, 66, 67]
    opening = np.zeros((68, 2))
    opening[lower_lip_and_chin, 1] = 12.0
    head_motion = _similarity(1.1, 12, (30.0, -20.0))
    frames = np.empty((4, 68, 3))
    frames[..., 2] = 1
    frames[0, :, :2] = neutral[:, :2]
    frames[1, :, :2] = _apply(head_motion, neutral[:, :2] + opening)  # opens the mouth and turns
    frames[2] = np.nan  # no face
    frames[3, :, :2] = _apply(head_motion, neutral[:, :2])  # turns only
    driving = Keypoints(frames, IBUG68, np.arange(4))
    target = neutral.copy()
    target[:, :2] = _apply(_similarity(1.5, 0, (200.0, 100.0)), neutral[:, :2])

    result = transfer_expression(driving, target)
    np.testing.assert_allclose(result.xy[0], target[:, :2], atol=1e-3)
    np.testing.assert_allclose(result.xy[1], target[:, :2] + 1.5 * opening, atol=1e-3)
    assert np.isnan(result.xy[2]).all() and (result.confidence[2] == 0).all()
    np.testing.assert_allclose(result.xy[3], target[:, :2], atol=1e-3)

    missing_point = target.copy()
    missing_point[60] = (np.nan, np.nan, 0)
    partial = transfer_expression(driving, missing_point, driving_neutral=neutral)
    assert np.isnan(partial.xy[:, 60]).all() and np.isfinite(partial.xy[[0, 1, 3]][:, 59]).all()
