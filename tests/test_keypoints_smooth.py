"""Temporal smoothing (vidgan.keypoints.smooth) and its metrics (vidgan.keypoints.quality),
on synthetic tracks: smooth sinusoidal motion plus Gaussian detector noise."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter

from vidgan.keypoints import COCO17, IBUG68, Keypoints
from vidgan.keypoints.quality import jitter, lag
from vidgan.keypoints.smooth import DEFAULT_FILTER, FILTERS, GAP_CONFIDENCE, Smoother, smooth

FPS = 25
NOISE = 1.5  # pixels
OFFLINE = [f for f in FILTERS if f != "one_euro"]


def clean_points(frames: int = 200, joints: int = COCO17.num_joints) -> np.ndarray:
    """``(T, K, 3)``: each point circles on its own ellipse, periods of 1.6 to 3 s, confidence 1."""
    t = np.arange(frames)[:, None]
    k = np.arange(joints)[None, :]
    points = np.ones((frames, joints, 3))
    points[..., 0] = 200 + 10 * k + 30 * np.sin(2 * np.pi * t / (40 + 2 * k) + k)
    points[..., 1] = 150 + 5 * k + 20 * np.cos(2 * np.pi * t / (75 - k) + 2 * k)
    return points


def track(points: np.ndarray, skeleton=COCO17, track_id: int = 0) -> Keypoints:
    return Keypoints(points, skeleton, np.arange(len(points)), fps=Fraction(FPS), track_id=track_id)


def noisy(points: np.ndarray, seed: int = 0) -> np.ndarray:
    out = points.copy()
    out[..., :2] += np.random.default_rng(seed).normal(0, NOISE, out[..., :2].shape)
    return out


@pytest.fixture(scope="module")
def synthetic() -> tuple[Keypoints, Keypoints]:
    """(clean, noisy) tracks of 200 frames of COCO-17."""
    clean = clean_points()
    return track(clean), track(noisy(clean))


def rms_error(a: Keypoints, b: Keypoints) -> float:
    return float(np.sqrt(np.nanmean(np.sum((a.xy - b.xy) ** 2, axis=-1))))


@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_cuts_jitter_and_follows_the_clean_motion(synthetic, name):
    clean, raw = synthetic
    out = Smoother(name)(raw)
    assert out.points.shape == raw.points.shape
    assert jitter(out) < 0.6 * jitter(raw), name
    # The causal One Euro filter trades a fraction of a frame of lag (up to ~5 px/frame here).
    assert rms_error(out, clean) < (1.5 if name == "one_euro" else 0.8) * rms_error(raw, clean), name


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_filters_do_not_lag(synthetic, name):
    _, raw = synthetic
    assert abs(lag(raw, Smoother(name)(raw))) < 0.5


def test_one_euro_lags_a_little_behind(synthetic):
    _, raw = synthetic
    assert 0.1 < lag(raw, Smoother("one_euro")(raw)) < 2.0


def test_savgol_and_gaussian_equal_scipy_inside_the_track(synthetic):
    _, raw = synthetic
    inside = slice(10, -10)
    expected = savgol_filter(raw.xy, 7, 2, axis=0)
    np.testing.assert_allclose(Smoother("savgol", window=7, polyorder=2)(raw).xy[inside], expected[inside], atol=1e-3)
    expected = gaussian_filter1d(raw.xy.astype(np.float64), 1.5, axis=0, truncate=3.0)
    np.testing.assert_allclose(Smoother("gaussian", sigma=1.5)(raw).xy[inside], expected[inside], atol=1e-3)


@pytest.mark.parametrize("name", FILTERS)
def test_short_gaps_are_interpolated_long_gaps_and_ends_stay_missing(synthetic, name):
    clean, raw = synthetic
    points = raw.points.copy()
    points[50:54, 0] = np.nan  # 4 frames <= max_gap
    points[100:112, 1] = np.nan  # 12 frames > max_gap
    points[:3, 2] = np.nan  # the start: no detection before it
    out = Smoother(name, max_gap=5)(raw.with_points(points))
    assert np.isfinite(out.xy[50:54, 0]).all()
    assert np.all(np.abs(out.xy[50:54, 0] - clean.xy[50:54, 0]) < 4 * NOISE)
    confidence = out.confidence[50:54, 0]
    assert np.all((confidence > 0) & (confidence <= GAP_CONFIDENCE))
    for frames, joint in ((slice(100, 112), 1), (slice(0, 3), 2)):
        assert np.isnan(out.xy[frames, joint]).all()
        assert np.all(out.confidence[frames, joint] == 0)
    assert np.isfinite(out.xy[112:, 1]).all() and np.isfinite(out.xy[3:, 2]).all()


@pytest.mark.parametrize("name", FILTERS)
def test_a_low_confidence_outlier_pulls_less(name):
    pulls = []
    for confidence in (1.0, 0.05):
        points = noisy(clean_points(100))
        points[50:53, :, 0] += 25  # three frames of outliers, so even a median of 5 moves
        points[50:53, :, 2] = confidence
        out = Smoother(name)(track(points))
        pulls.append(np.abs(out.xy[50:53, :, 0] - clean_points(100)[50:53, :, 0]).mean())
    high, low = pulls
    assert low < 0.5 * high, (name, high, low)


@pytest.mark.parametrize("name", FILTERS)
def test_step_keeps_separate_state_per_track(name):
    a, b = noisy(clean_points(60), seed=1), noisy(clean_points(60)[:, ::-1], seed=2)
    a[20:23, 3] = np.nan  # a missing point online stays missing
    together = Smoother(name, fps=FPS)
    interleaved = {0: [], 1: []}
    for frame_a, frame_b in zip(a, b):
        interleaved[1].append(together.step(1, frame_b))
        interleaved[0].append(together.step(0, frame_a))
    for track_id, points in ((0, a), (1, b)):
        alone = Smoother(name, fps=FPS)
        expected = np.stack([alone.step(7, frame) for frame in points])
        np.testing.assert_allclose(np.stack(interleaved[track_id]), expected, equal_nan=True)
    assert np.isnan(np.stack(interleaved[0])[20:23, 3, :2]).all()
    together.reset(0)
    np.testing.assert_allclose(together.step(0, a[0]), Smoother(name).step(0, a[0]), equal_nan=True)


def test_one_euro_online_equals_offline(synthetic):
    _, raw = synthetic
    smoother = Smoother("one_euro", fps=FPS)
    online = np.stack([smoother.step(0, frame, timestamp=i / FPS) for i, frame in enumerate(raw.points)])
    np.testing.assert_allclose(online, Smoother("one_euro")(raw).points, atol=1e-4)


@pytest.mark.parametrize("name", ["savgol", "gaussian", "median"])
def test_window_filters_online_are_the_offline_filter_at_the_newest_frame(name):
    raw = track(noisy(clean_points(30)))
    smoother = Smoother(name, fps=FPS)
    online = np.stack([smoother.step(0, frame) for frame in raw.points])
    offline_at_end = np.stack([smoother(raw[: t + 1]).points[-1] for t in range(len(raw))])
    np.testing.assert_allclose(online, offline_at_end, atol=1e-4)
    assert jitter(raw.with_points(online)) < jitter(raw)


def test_step_rejects_time_going_backwards():
    smoother = Smoother("kalman")
    smoother.step(0, clean_points(1)[0], timestamp=1.0)
    with pytest.raises(ValueError, match="not after"):
        smoother.step(0, clean_points(1)[0], timestamp=1.0)


@pytest.mark.parametrize("frames", [1, 2, 5])
@pytest.mark.parametrize("name", FILTERS)
def test_output_keeps_the_number_of_frames(name, frames):
    raw = track(noisy(clean_points(frames)))
    out = smooth(raw, name)
    assert out.points.shape == raw.points.shape and np.isfinite(out.points).all()


def test_bad_filter_or_parameter_is_a_value_error():
    with pytest.raises(ValueError) as error:
        Smoother("butterworth")
    assert all(name in str(error.value) for name in FILTERS)
    for bad in ({"window": 4}, {"window": 5, "polyorder": 5}, {"sigma": 0}, {"sigma": float("nan")}):
        with pytest.raises(ValueError):
            Smoother("savgol" if "window" in bad else "gaussian", **bad)
    with pytest.raises(ValueError, match="min_cutoff"):
        Smoother("one_euro", sigma=1.0)
    assert DEFAULT_FILTER in FILTERS


def test_jitter_of_constant_velocity_is_zero_and_of_noise_is_not():
    t = np.arange(50, dtype=np.float64)[:, None]
    points = np.ones((50, IBUG68.num_joints, 3))
    points[..., 0] = 100 + 3 * np.arange(IBUG68.num_joints) + 2.5 * t
    points[..., 1] = 80 + np.arange(IBUG68.num_joints) - 1.5 * t
    points[7:9, 40] = np.nan  # missing points are skipped
    assert jitter(track(points, IBUG68)) < 1e-6
    shaken = noisy(points)
    eyes = np.linalg.norm(points[0, 36, :2] - points[0, 45, :2])
    expected = np.sqrt(6) * NOISE * np.sqrt(np.pi / 2) / eyes  # mean |2-D normal of std sqrt(6) sigma|
    assert jitter(track(shaken, IBUG68)) == pytest.approx(expected, rel=0.1)
    assert jitter(track(shaken, IBUG68), scale=1.0) == pytest.approx(expected * eyes, rel=0.1)


def test_lag_of_a_track_shifted_by_three_frames_is_three(synthetic):
    _, raw = synthetic
    shifted = np.full_like(raw.points, np.nan)
    shifted[3:] = raw.points[:-3]
    assert lag(raw, raw.with_points(shifted)) == pytest.approx(3, abs=0.2)
    assert lag(raw.with_points(shifted), raw) == pytest.approx(-3, abs=0.2)
    assert lag(raw, raw) == pytest.approx(0, abs=1e-6)
