"""Every real sample video probes, decodes, re-encodes and decodes again faithfully."""

from __future__ import annotations

import av
import numpy as np
import pytest

from conftest import psnr, shared, shared_videos
from vidgan.io import VideoReader, VideoWriter, probe

ROUND_TRIP_FRAMES = 24


def pyav_decode_count(path) -> int:
    """An independent count: a bare PyAV decode loop."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("name", shared_videos())
def test_probe_frame_count_matches_decode_count(name):
    path = shared(f"videos/{name}")
    info = probe(path)
    assert info.frames == pyav_decode_count(path)
    reader = VideoReader(path)
    frames = 0
    for frame in reader:
        assert frame.shape == (info.height, info.width, 3) and frame.dtype == np.uint8
        frames += 1
    assert frames == info.frames
    assert info.fps > 0 and info.duration > 0
    assert reader.damage == []


@pytest.mark.parametrize("name", shared_videos())
def test_round_trip_at_crf_18_keeps_35_db(name, tmp_path):
    path = shared(f"videos/{name}")
    reader = VideoReader(path)
    originals = list(reader.frames(0, ROUND_TRIP_FRAMES))
    target = tmp_path / "round_trip.mp4"
    with VideoWriter(target, reader.info.fps, crf=18, preset="veryfast") as writer:
        writer.write_all(originals)
    decoded = list(VideoReader(target))
    assert len(decoded) == len(originals)
    height, width = originals[0].shape[:2]
    scores = [psnr(a, b[:height, :width]) for a, b in zip(originals, decoded)]
    print(f"{name}: mean PSNR {np.mean(scores):.1f} dB, min {np.min(scores):.1f} dB")
    assert min(scores) >= 35.0
    assert probe(target).fps == reader.info.fps
