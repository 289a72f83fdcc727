"""Keypoints of real clips end to end: smoothing figures and the `vidgan extract` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared
from vidgan.cli import main
from vidgan.io import probe
from vidgan.keypoints import Smoother, extract_video, jitter, lag, load_tracks


@pytest.fixture(scope="module")
def talking_head():
    tracks = extract_video(shared("videos/talking_head_pexels.mp4"), "face")
    assert len(tracks) == 1
    return tracks[0]


def test_default_filter_cuts_jitter_by_60_percent_with_at_most_one_frame_of_lag(talking_head):
    smoothed = Smoother()(talking_head)
    raw_jitter, smooth_jitter = jitter(talking_head), jitter(smoothed)
    cut = 1 - smooth_jitter / raw_jitter
    delay = lag(talking_head, smoothed)
    print(f"\ntalking_head_pexels.mp4, default filter {Smoother().filter}: jitter {raw_jitter:.4f} -> "
          f"{smooth_jitter:.4f} ({cut:.1%} cut), lag {delay:.2f} frames")
    assert cut >= 0.60 and abs(delay) <= 1.0
    assert len(smoothed) == len(talking_head)


def test_extract_command_writes_keypoints_and_a_preview(tmp_path, capsys):
    video = shared("videos/single_face.mp4")
    out, preview = tmp_path / "kp.npz", tmp_path / "preview.mp4"
    assert main(["extract", str(video), "--what", "face", "--smooth", "one_euro", "--out", str(out),
                 "--preview", str(preview)]) == 0
    tracks = load_tracks(out)
    assert len(tracks) == 1 and len(tracks[0]) == probe(video).frames
    assert tracks[0].detected_frames.mean() > 0.9
    assert probe(preview).frames == probe(video).frames
    assert "track 0: ibug68" in capsys.readouterr().out


def test_extract_without_faces_says_so_and_writes_a_valid_empty_result(tmp_path, capsys):
    out = tmp_path / "kp.npz"
    assert main(["extract", str(shared("videos/no_face.mp4")), "--out", str(out)]) == 0
    assert "no face found in any of the 95 frames" in capsys.readouterr().err
    assert load_tracks(out) == []
    assert json.loads(out.with_suffix(".json").read_text())["image_size"] == [540, 960]


def test_extract_with_missing_weights_fails_naming_the_file(tmp_path, capsys):
    out = tmp_path / "kp.npz"
    code = main(["extract", str(shared("videos/single_face.mp4")), "--backend", "fan", "--weights", str(tmp_path),
                 "--out", str(out)])
    assert code == 3 and "2DFAN4-11f355bf06.pth.tar" in capsys.readouterr().err
    assert not out.exists()


def test_body_keypoints_of_the_dancer_are_one_smooth_track():
    tracks = extract_video(shared("videos/dance_musepose.mp4"), "body", stop=48)
    assert len(tracks) == 1 and tracks[0].detected_frames.all()
    raw = tracks[0]
    assert jitter(Smoother()(raw)) < jitter(raw)
    assert np.nanmax(raw.xy[..., 1]) <= 1920 and np.nanmin(raw.xy[..., 0]) >= 0
