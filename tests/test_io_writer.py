"""VideoWriter: exact fps, odd sizes, audio copied from a source, atomic output; images."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from conftest import psnr
from vidgan.data.synthetic import synthetic_frames
from vidgan.errors import InputError
from vidgan.io import (
    ImageFolderReader,
    VideoReader,
    VideoWriter,
    probe,
    read_audio,
    read_image,
    write_audio,
    write_image,
    write_image_folder,
)


def frames_of(count, height=48, width=64):
    """Smooth moving content (4:2:0 chroma cannot carry per-pixel colour noise)."""
    return [cv2.GaussianBlur(f, (5, 5), 2) for f in synthetic_frames(count, height, width)]


def test_exact_fractional_fps_and_frame_count(tmp_path):
    target = tmp_path / "ntsc.mp4"
    with VideoWriter(target, Fraction(30000, 1001), preset="ultrafast") as writer:
        writer.write_all(frames_of(30))
    info = probe(target)
    assert info.fps == Fraction(30000, 1001) and info.frames == 30
    assert info.duration == pytest.approx(30 * 1001 / 30000, abs=1e-3)


def test_odd_size_is_padded_to_even_keeping_every_pixel(tmp_path):
    target = tmp_path / "odd.mp4"
    originals = frames_of(5, 33, 47)
    with VideoWriter(target, 10) as writer:
        writer.write_all(originals)
    assert writer.size == (34, 48)
    decoded = list(VideoReader(target))
    assert decoded[0].shape == (34, 48, 3)
    assert min(psnr(a, b[:33, :47]) for a, b in zip(originals, decoded)) > 30


def test_audio_is_copied_with_the_video_duration_and_offset(tmp_path):
    rate, fps, frames = 48000, 25, 50
    soundtrack = tmp_path / "tone.m4a"
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, 6 * rate)  # no period: one sharp lag
    samples = np.stack([noise, noise]).astype(np.float32)
    write_audio(soundtrack, samples, rate)
    target = tmp_path / "with_audio.mp4"
    with VideoWriter(target, fps, preset="ultrafast", audio_from=soundtrack, audio_start=2.0) as writer:
        writer.write_all(frames_of(frames))
    info = probe(target)
    assert info.has_audio and info.audio_codec == "aac"
    audio, audio_rate = read_audio(target)
    video_seconds = frames / fps
    assert audio_rate == rate
    assert abs(audio.shape[1] / rate - video_seconds) <= 1 / fps
    # The copied track starts 2 s into the source: find the lag by cross-correlation.
    probe_window = audio[0, rate // 2 : rate // 2 + 4800]
    source = samples[0, : 4 * rate]
    scores = np.correlate(source, probe_window, mode="valid")
    lag_seconds = (int(np.argmax(scores)) - rate // 2) / rate
    assert lag_seconds == pytest.approx(2.0, abs=0.03)


def test_audio_from_a_file_without_audio_is_a_clear_error(tmp_path):
    silent = tmp_path / "silent.mp4"
    with VideoWriter(silent, 10) as writer:
        writer.write_all(frames_of(3))
    from vidgan.errors import InputError

    with pytest.raises(InputError, match="no audio track"):
        VideoWriter(tmp_path / "out.mp4", 10, audio_from=silent)
    assert not (tmp_path / "out.mp4").exists()


def test_a_failed_run_leaves_no_file(tmp_path):
    target = tmp_path / "failed.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(target, 10) as writer:
            writer.write_all(frames_of(5))
            raise RuntimeError("the job died")
    assert list(tmp_path.iterdir()) == []


def test_bad_frames_are_rejected_and_nothing_is_left(tmp_path):
    target = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="RGB uint8"):
        with VideoWriter(target, 10) as writer:
            writer.write(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="the video is 64x48"):
        with VideoWriter(target, 10) as writer:
            writer.write_all(frames_of(2))
            writer.write(np.zeros((10, 10, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_images_round_trip_with_the_frame_convention(tmp_path):
    image = frames_of(1)[0]
    assert np.array_equal(read_image(write_image(tmp_path / "a.png", image)), image)
    assert psnr(read_image(write_image(tmp_path / "a.jpg", image)), image) > 25
    gray = image[..., 0]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    assert np.array_equal(read_image(tmp_path / "gray.png"), np.repeat(gray[..., None], 3, axis=2))
    cv2.imwrite(str(tmp_path / "deep.png"), image[..., ::-1].astype(np.uint16) * 257)
    assert np.array_equal(read_image(tmp_path / "deep.png"), image)


def test_image_folder_reads_like_a_video(tmp_path):
    originals = frames_of(12)
    folder = write_image_folder(tmp_path / "frames", originals)
    assert sorted(p.name for p in folder.iterdir())[:2] == ["000000.png", "000001.png"]
    reader = ImageFolderReader(folder, fps=12)
    assert len(reader) == 12
    assert all(np.array_equal(a, b) for a, b in zip(reader, originals))
    clips = list(reader.clips(5))
    assert [c.frame_index.tolist() for c in clips] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert clips[0].video_id == "frames" and clips[0].frames.shape == (5, 48, 64, 3)


def _png_declaring(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims ``width x height`` (CRC fixed): a few bytes, a huge image."""
    import struct
    import zlib

    ok, encoded = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))
    data = bytearray(encoded.tobytes())
    start = 8 + 8  # signature, IHDR length + type
    data[start : start + 8] = struct.pack(">II", width, height)
    data[start + 13 : start + 17] = struct.pack(">I", zlib.crc32(bytes(data[start - 4 : start + 13])))
    return bytes(data)


@pytest.mark.parametrize("side", [9000, 20000, 60000])
def test_an_image_declaring_a_huge_size_is_refused_from_its_header(tmp_path, side):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_declaring(side, side))
    with pytest.raises(InputError, match=r"huge.png: image (\d+x\d+ )?exceeds the size limit"):
        read_image(path)
