"""Structure metrics: PCK against the driving keypoints and face NME."""

from __future__ import annotations

import numpy as np
import pytest

from vidgan.keypoints import COCO17, IBUG68, Keypoints
from vidgan.metrics import nme, pck


@pytest.fixture
def body() -> np.ndarray:
    """(5, 17, 3) visible points; the bounding box is 40 wide and 100 high in every frame."""
    rng = np.random.default_rng(0)
    points = np.ones((5, 17, 3))
    points[..., 0] = rng.uniform(10, 50, (5, 17))
    points[..., 1] = rng.uniform(0, 100, (5, 17))
    points[:, 0, :2], points[:, 1, :2] = (10, 0), (50, 100)  # pin the box corners
    return points


def moved(points: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    out = points.copy()
    out[..., 0] += dx
    out[..., 1] += dy
    return out


def test_pck_of_identical_keypoints_is_one(body):
    assert pck(body, body) == 1.0
    track = Keypoints(body, COCO17, frame_index=np.arange(5))
    assert pck(track, track, alpha=0.01) == 1.0


def test_pck_threshold_is_alpha_times_the_larger_box_side(body):
    # alpha * max(40, 100) = 10 pixels at alpha = 0.1
    assert pck(moved(body, 9.9), body) == 1.0
    assert pck(moved(body, 6, 7.9), body) == 1.0  # 9.94 pixels away, diagonally
    assert pck(moved(body, 10.1), body) == 0.0
    assert pck(moved(body, 10.1), body, alpha=0.2) == 1.0


def test_pck_ignores_missing_targets_and_fails_missing_predictions(body):
    predicted, target = moved(body, 50), body.copy()
    predicted[:, :3] = body[:, :3]  # 3 of 17 points right in every frame
    target[:, 3:5, 2] = 0  # 2 wrong points missing in the target: ignored
    assert pck(predicted, target) == pytest.approx(3 / 15)
    predicted[:, 0, :2] = np.nan  # a missing prediction of a visible point is wrong
    assert pck(predicted, target) == pytest.approx(2 / 15)
    assert np.isnan(pck(predicted, np.full_like(target, np.nan)))


def test_pck_shapes_must_match(body):
    with pytest.raises(ValueError, match="differ"):
        pck(body[:, :10], body)
    with pytest.raises(ValueError, match=r"\(T, K, 2\)"):
        pck(body[0], body[0])


def face(interocular: float = 100.0) -> np.ndarray:
    """(3, 68, 2) face points with the outer eye corners ``interocular`` apart."""
    points = np.random.default_rng(1).uniform(0, 200, (3, 68, 2))
    points[:, 36], points[:, 45] = (50, 80), (50 + interocular, 80)
    return points


def test_nme_is_the_mean_error_over_the_interocular_distance():
    target = face(100)
    assert nme(target, target) == 0
    assert nme(moved(target, 3, 4), target) == pytest.approx(0.05)  # 5 px / 100 px
    predicted = moved(target, 3, 4)
    predicted[0, :10] = np.nan  # missing points of a frame are left out of its mean
    predicted[1] = moved(target, 30, 40)[1]  # 50 px in one frame
    assert nme(predicted, target) == pytest.approx((0.05 + 0.5 + 0.05) / 3)


def test_nme_accepts_keypoints_and_needs_ibug68():
    target = face(50)
    points = np.concatenate([target, np.ones((3, 68, 1))], axis=-1)
    track = Keypoints(points, IBUG68, frame_index=np.arange(3))
    assert nme(track.with_points(moved(points, 5)), track) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="ibug68"):
        nme(Keypoints.missing(3, COCO17), Keypoints.missing(3, COCO17))
    with pytest.raises(ValueError, match="68"):
        nme(target[:, :17], target[:, :17])
