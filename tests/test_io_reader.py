"""VideoReader: clips, seeking, rotation, pixel formats, bounded memory, damage reports."""

from __future__ import annotations

import threading
import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest

from conftest import psnr, shared
from vidgan.errors import DecodeError
from vidgan.io import VideoReader, probe
from vidgan.io.reader import _RgbConverter


def test_clips_carry_video_id_and_frame_indices():
    reader = VideoReader(shared("videos/no_face.mp4"))
    clips = list(reader.clips(30, stride=20))
    assert [c.frame_index[0] for c in clips] == [0, 20, 40, 60, 80]
    assert clips[0].frames.shape == (30, 540, 960, 3)
    assert clips[-1].frame_index.tolist() == list(range(80, 95))  # short tail, frames 90..94 are new
    assert all(c.video_id == "no_face" for c in clips)
    assert [len(c.frame_index) for c in reader.clips(30, drop_last=True)] == [30, 30, 30]
    frames = list(reader)
    for clip in clips:
        for index, frame in zip(clip.frame_index, clip.frames):
            assert np.array_equal(frame, frames[index])


@pytest.mark.parametrize(
    ("name", "start"),
    [("talking_head_pexels.mp4", 1), ("talking_head_pexels.mp4", 97), ("talking_head_pexels.mp4", 471),
     ("megamind_animated.avi", 100), ("face_then_noface.mov", 120), ("pedestrians_vtest.avi", 400)],
)
def test_seek_by_frame_gives_the_same_pixels_as_reading_from_the_start(name, start):
    reader = VideoReader(shared(f"videos/{name}"))
    sequential = [f for i, f in enumerate(reader.frames(0, start + 3)) if i >= start]
    assert all(np.array_equal(a, b) for a, b in zip(reader.frames(start, start + 3), sequential))
    assert np.array_equal(reader.read(start), sequential[0])


def test_seek_by_time_uses_the_frame_rate():
    reader = VideoReader(shared("videos/talking_head_pexels.mp4"))  # 24000/1001 fps
    assert reader.info.fps == Fraction(24000, 1001)
    assert reader.frame_index_at(10.0) == 239
    assert reader.frame_index_at(0.0) == 0 and reader.frame_index_at(1e6) == len(reader) - 1


def test_edit_list_discarded_frames_are_not_counted():
    info = probe(shared("videos/no_face.mp4"))  # 98 packets, 3 dropped by the edit list
    assert info.frames == 95 and info.declared_frames == 95 and not info.truncated


def write_with_pyav(path, frames, *, codec="libx264", pix_fmt="yuv420p", rotation=None, colorspace=None, color_range=None):
    """``frames`` encoded with PyAV; ``colorspace``/``color_range`` (FFmpeg's numbers) tag the stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        tags = {name: value for name, value in (("colorspace", colorspace), ("color_range", color_range)) if value}
        for name, value in tags.items():
            setattr(stream.codec_context, name, value)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
            for name, value in tags.items():
                setattr(frame, name, value)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def marker_image():
    image = np.zeros((32, 64, 3), np.uint8)
    image[:8, :8] = 255  # a white top-left corner
    return image


@pytest.mark.parametrize(("ccw", "clockwise", "white_corner"), [(90, 270, "bottom_left"), (-90, 90, "top_right"), (180, 180, "bottom_right")])
def test_rotation_metadata_is_applied(tmp_path, ccw, clockwise, white_corner):
    path = tmp_path / "rotated.mp4"
    write_with_pyav(path, [marker_image()] * 3, rotation=ccw)
    info = probe(path)
    assert info.rotation == clockwise
    frame = VideoReader(path).read(0)
    assert frame.shape == (info.height, info.width, 3)
    assert frame.shape[:2] == ((64, 32) if clockwise != 180 else (32, 64))
    corners = {
        "top_left": frame[:8, :8], "top_right": frame[:8, -8:],
        "bottom_left": frame[-8:, :8], "bottom_right": frame[-8:, -8:],
    }
    assert corners.pop(white_corner).mean() > 200
    assert all(c.mean() < 50 for c in corners.values())


@pytest.mark.parametrize(
    ("codec", "pix_fmt"),
    [("libx264", "yuv420p10le"), ("libx264", "yuv444p"), ("ffv1", "gray"), ("ffv1", "yuv422p10le"), ("ffv1", "bgr0")],
)
def test_other_pixel_formats_become_rgb24(tmp_path, codec, pix_fmt):
    rng = np.random.default_rng(0)
    gradient = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 32, axis=0)
    image = np.concatenate([gradient, np.roll(gradient, 20, axis=1), 255 - gradient], axis=2)
    if pix_fmt == "gray":
        image = np.repeat(image[..., :1], 3, axis=2)
    image = np.clip(image + rng.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)
    path = tmp_path / f"{pix_fmt}.mkv"
    write_with_pyav(path, [image] * 4, codec=codec, pix_fmt=pix_fmt)
    assert probe(path).pixel_format == pix_fmt
    frames = list(VideoReader(path))
    assert len(frames) == 4 and frames[0].dtype == np.uint8 and frames[0].shape == (32, 64, 3)
    assert psnr(frames[0], image) > 30


BT709, BT601, FULL_RANGE = 1, 6, 2  # FFmpeg's AVColorSpace / AVColorRange numbers


@pytest.mark.parametrize(
    ("codec", "height", "width", "colorspace", "color_range"),
    [
        ("libx264", 32, 64, None, None),
        ("libx264", 34, 48, BT601, None),  # 17 chroma rows
        ("ffv1", 33, 47, None, None),  # odd sides
        ("libx264", 360, 640, BT709, None),
        ("libx264", 32, 64, BT601, FULL_RANGE),
    ],
)
def test_8bit_420_frames_equal_pyavs_own_rgb_conversion(tmp_path, codec, height, width, colorspace, color_range):
    """The pooled filter-graph path (8-bit 4:2:0) gives exactly ``frame.to_ndarray("rgb24")``,
    whatever the plane layout, colour space and range the frames carry."""
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(3)]
    path = tmp_path / f"planes.{'mkv' if codec == 'ffv1' else 'mp4'}"
    write_with_pyav(path, images, codec=codec, colorspace=colorspace, color_range=color_range)
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
        reference = [frame.to_ndarray(format="rgb24") for frame in decoded]
    assert decoded[0].format.name in ("yuv420p", "yuvj420p")
    assert decoded[0].colorspace == (colorspace or 2)
    assert color_range is None or decoded[0].color_range == color_range
    frames = list(VideoReader(path))
    assert len(frames) == 3 and not np.array_equal(frames[0], frames[1])
    assert all(np.array_equal(ours, theirs) for ours, theirs in zip(frames, reference))


def test_the_converter_follows_a_change_of_frame_size_mid_stream():
    rng = np.random.default_rng(2)
    to_rgb = _RgbConverter()
    for height, width in [(32, 64), (48, 80), (32, 64)]:
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).reformat(format="yuv420p")
        assert np.array_equal(to_rgb(frame), frame.to_ndarray(format="rgb24"))


def test_decoding_ahead_in_a_thread_gives_the_same_frames_and_stops_with_the_caller():
    path = shared("videos/single_face.mp4")
    threads = threading.active_count()
    ahead = list(VideoReader(path, prefetch=4).frames(10, 30))
    inline = list(VideoReader(path, prefetch=0).frames(10, 30))
    assert len(ahead) == 20 and all(np.array_equal(a, b) for a, b in zip(ahead, inline))
    frames = VideoReader(path).frames()
    next(frames)
    frames.close()  # a caller leaving a for loop early
    assert threading.active_count() == threads


def test_memory_stays_bounded_on_a_long_video():
    path = shared("videos/talking_head_lp_d6.mp4")  # 1008 frames of 480x480: 700 MB decoded
    reader = VideoReader(path)
    tracemalloc.start()
    clips = sum(1 for _ in reader.clips(16))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert clips == 63
    clip_bytes = 16 * 480 * 480 * 3
    assert peak < 4 * clip_bytes, f"peak {peak / 2**20:.0f} MiB"


def test_truncated_file_decodes_what_is_there_and_reports_it(tmp_path):
    source = shared("videos/talking_head_pexels.mp4")  # moov atom first: a cut keeps the index
    data = source.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    info = probe(truncated)
    assert info.truncated and info.declared_frames == 472 and 0 < info.frames < 472
    reader = VideoReader(truncated)
    assert sum(1 for _ in reader) == info.frames
    assert any("truncated" in line for line in reader.damage)
    with pytest.raises(DecodeError, match="truncated"):
        VideoReader(truncated, strict=True)


def test_concealed_corruption_decodes_fully_and_is_visible_against_the_original():
    """megamind_corrupt.avi has bit errors the MPEG-4 decoder conceals without a word: every
    frame decodes (vidgan's policy: decode what is decodable), and the damage shows only
    against the clean original, as dips in PSNR."""
    broken = VideoReader(shared("videos/megamind_corrupt.avi"))
    clean = VideoReader(shared("videos/megamind_animated.avi"))
    scores = [psnr(a, b) for a, b in zip(broken, clean)]
    assert len(scores) == 270 and broken.damage == []
    assert np.median(scores) > 30 and min(scores) < 20
