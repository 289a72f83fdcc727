"""Temporal metrics: warping error (DIS flow, occlusion check, reference flow, region) and flicker."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared

import vidgan.keypoints.quality
from vidgan.data.synthetic import synthetic_frames
from vidgan.io import VideoReader
from vidgan.metrics import (
    brightness_changes,
    consistent_flows,
    flicker,
    jitter,
    warping_error,
    warping_errors,
)


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    """12 frames 64x64 of moving shapes over a textured background."""
    return np.stack(list(synthetic_frames(12, 64, 64)))


@pytest.fixture(scope="module")
def talking_head() -> np.ndarray:
    """10 frames of the real talking-head clip, shrunk to 160x90."""
    reader = VideoReader(shared("videos/talking_head_pexels.mp4"))
    return np.stack([cv2.resize(frame, (160, 90), interpolation=cv2.INTER_AREA) for frame in reader.frames(0, 10)])


def add_noise(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


def shake(frames: np.ndarray, pixels: int, seed: int = 0) -> np.ndarray:
    """Each frame moved by its own random offset of up to ``pixels`` (camera shake)."""
    rng = np.random.default_rng(seed)
    return np.stack([np.roll(f, tuple(rng.integers(-pixels, pixels + 1, 2)), axis=(0, 1)) for f in frames])


def test_identical_videos_have_no_warping_error_difference(video):
    own = warping_errors(video)
    assert own.shape == (11,) and np.isfinite(own).all()
    assert np.array_equal(warping_errors(video, flow_from=video), own)
    assert warping_error(video, flow_from=video) - warping_error(video) == 0


def test_a_static_video_has_zero_flow_and_zero_error():
    still = np.repeat(next(synthetic_frames(1, 64, 64))[None], 4, axis=0)
    flows, valid = consistent_flows(still)
    assert flows.shape == (3, 64, 64, 2) and np.abs(flows).max() < 1e-3 and valid.all()
    assert warping_error(still) == pytest.approx(0, abs=1e-6)


def texture(size: int, seed: int) -> np.ndarray:
    """A smooth random RGB texture ``(size, size, 3)`` around mid-grey."""
    noise = cv2.GaussianBlur(np.random.default_rng(seed).uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 3)
    return (noise - noise.mean()) / noise.std() * 40 + 128


def test_the_consistency_check_marks_the_background_a_moving_square_covers():
    background, square = texture(128, 0), texture(32, 1)
    frames = np.stack([background.copy(), background.copy()])
    frames[0, 30:62, 20:52] = square
    frames[1, 30:62, 26:58] = square  # moved 6 px right: it covers columns 52..57 of frame 0
    flows, valid = consistent_flows(np.clip(frames, 0, 255).astype(np.uint8))
    assert flows[0, 34:58, 24:48, 0].mean() == pytest.approx(6, abs=0.5)
    covered = np.zeros((128, 128), bool)
    covered[30:62, 52:58] = True
    assert valid[0][covered].mean() < 0.5 and valid[0][~covered].mean() > 0.95


@pytest.mark.parametrize("clip", ["video", "talking_head"])
def test_temporal_incoherence_raises_the_warping_error_in_order(request, clip):
    frames = request.getfixturevalue(clip)
    consistent = warping_error(frames, flow_from=frames)
    noisy = warping_error(add_noise(frames, 8), flow_from=frames)
    shaken = warping_error(shake(add_noise(frames, 8), 3), flow_from=frames)
    assert consistent < noisy < shaken


def test_region_restricts_the_error(video):
    noisy_left = video.copy()
    noisy_left[:, :, :32] = add_noise(video[:, :, :32], 25)
    left = np.zeros((64, 64), bool)
    left[:, :32] = True
    inside = warping_error(noisy_left, flow_from=video, region=left)
    outside = warping_error(noisy_left, flow_from=video, region=~left)
    assert inside > 3 * outside
    per_frame = np.broadcast_to(left, (12, 64, 64))
    assert warping_error(noisy_left, flow_from=video, region=per_frame) == inside
    assert np.isnan(warping_errors(video, region=np.zeros((64, 64), bool))).all()


def test_reference_and_frames_must_match(video):
    with pytest.raises(ValueError, match="differ in shape"):
        warping_errors(video, flow_from=video[:6])
    with pytest.raises(ValueError, match="not both"):
        warping_errors(video, flow_from=video, flows=consistent_flows(video))


def test_flicker_measures_global_brightness_changes():
    base = np.full((6, 16, 16, 3), 100, np.uint8)
    assert flicker(base) == 0
    flashing = base + (np.arange(6) % 2 * 10).astype(np.uint8)[:, None, None, None]
    assert brightness_changes(flashing) == pytest.approx([10 / 255] * 5)
    assert flicker(flashing) == pytest.approx(10 / 255)


def test_jitter_is_the_keypoints_one():
    assert jitter is vidgan.keypoints.quality.jitter
