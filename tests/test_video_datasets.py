"""Clip datasets (strips, videos, frame folders, the preprocess layout, generated shapes), the
shape-motion generator and the shape tracker of the video-GAN proof."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared

from vidgan.data.layout import video_dir, write_manifest
from vidgan.data.shapes import DIRECTIONS, shape_clip, write_shape_motion
from vidgan.data.video_datasets import (
    ClipData,
    FrameFolderDataset,
    PreprocessedDataset,
    ShapeMotionDataset,
    StripDataset,
    VideoFolderDataset,
    build_clip_dataset,
)
from vidgan.errors import ConfigError, InputError
from vidgan.io import VideoWriter, write_image_folder
from vidgan.metrics.shape_tracking import (
    TrackerSettings,
    shape_motion_scores,
    track_shape,
)


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """(T, C, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    return ((video + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def mocogan_shapes() -> StripDataset:
    return StripDataset(shared("mocogan/data/shapes"), size=64, length=16, every_nth=2)


def test_mocogan_shapes_strips_are_16_frame_clips_every_2nd_frame(mocogan_shapes):
    dataset = mocogan_shapes
    assert dataset.classes == ["0", "1"] and dataset.skipped == 0
    assert len(dataset) == 2 * len(dataset.sources)  # 32 frames: windows of 31 start at 0 and 1
    source, indices = dataset.window(1)
    assert source == 0 and indices == list(range(1, 32, 2))
    item = dataset[1]
    assert item["video"].shape == (16, 3, 64, 64) and item["video"].dtype == torch.float32
    assert item["video"].min() >= -1 and item["video"].max() <= 1 and item["category"].dtype == torch.int64
    strip = dataset.sources[0].read(range(32))
    assert np.array_equal(to_uint8(item["video"]), strip[1:32:2])


def test_weizmann_action_strips_number_their_class_folders_in_order():
    dataset = StripDataset(shared("mocogan/data/actions"), size=64, length=16, every_nth=2)
    assert dataset.classes == ["0", "1", "3", "4"] and len(dataset.sources) == 72
    assert sorted({s.category for s in dataset.sources}) == [0, 1, 2, 3]
    assert min(s.frames for s in dataset.sources) >= 50 and dataset.skipped == 0
    assert dataset[len(dataset) - 1]["category"].item() == 3


def test_video_folder_with_class_folders_and_resizing(tmp_path):
    frames = [np.repeat(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], 3, 2).repeat(72, 0) for _ in range(20)]
    for name, count in (("jump", 20), ("walk", 12)):
        with VideoWriter(tmp_path / name / "clip.mp4", 10, crf=10, preset="ultrafast") as writer:
            writer.write_all(frames[:count])
    (tmp_path / "walk" / "notes.txt").write_text("not a video")
    dataset = VideoFolderDataset(tmp_path, size=32, length=4, every_nth=3, stride=2)
    assert dataset.classes == ["jump", "walk"]
    assert [s.frames for s in dataset.sources] == [20, 12]
    assert len(dataset) == (20 - 10) // 2 + 1 + (12 - 10) // 2 + 1
    item = dataset[len(dataset) - 1]
    assert item["video"].shape == (4, 3, 32, 32) and item["category"].item() == 1
    centre = to_uint8(item["video"])[0, 16, :, 0].astype(int)  # a 96 -> 43 wide ramp, cropped to 32
    assert np.all(np.diff(centre) >= -2) and centre[-1] - centre[0] > 100


def test_frame_folders_with_and_without_classes(tmp_path):
    clip = shape_clip(3, size=32, length=10)
    write_image_folder(tmp_path / "flat" / "a", clip.frames)
    write_image_folder(tmp_path / "classes" / "up" / "a", clip.frames)
    write_image_folder(tmp_path / "classes" / "up" / "b", clip.frames[:4])  # too short: skipped
    flat = FrameFolderDataset(tmp_path / "flat", size=32, length=5, every_nth=2)
    assert flat.classes == [] and len(flat) == 2 and flat[0]["category"].item() == 0
    assert np.array_equal(to_uint8(flat[1]["video"]), clip.frames[1:10:2])
    classes = FrameFolderDataset(tmp_path / "classes", size=32, length=5, every_nth=2)
    assert classes.classes == ["up"] and classes.skipped == 1 and len(classes) == 2
    with pytest.raises(InputError, match="frames one clip needs"):
        FrameFolderDataset(tmp_path / "classes", size=32, length=20)


def test_preprocessed_layout_reads_complete_track_crops_only(tmp_path):
    clip = shape_clip(0, size=32, length=12)
    for video_id, complete in (("a", True), ("b", False)):
        folder = video_dir(tmp_path, video_id)
        for name in ("track_0.mp4", "track_0_maps.mp4"):
            with VideoWriter(folder / name, 10, preset="ultrafast") as writer:
                writer.write_all(clip.frames)
        if complete:
            write_manifest(folder, {"source": {"path": "x.mp4"}})
    dataset = PreprocessedDataset(tmp_path, size=32, length=12)
    assert [s.path.name for s in dataset.sources] == ["track_0.mp4"] and len(dataset) == 1
    assert json.loads((video_dir(tmp_path, "a") / "manifest.json").read_text())["format"] == "vidgan.dataset"
    assert dataset[0]["video"].shape == (12, 3, 32, 32)


def test_build_from_settings_and_clear_errors(tmp_path):
    dataset = build_clip_dataset(ClipData(format="shapes", count=6, num_classes=3, source_length=20, size=32,
                                          length=8, every_nth=2))
    assert isinstance(dataset, ShapeMotionDataset) and dataset.num_classes == 3 and len(dataset) == 6 * 6
    assert [dataset[i * 6]["category"].item() for i in range(6)] == [0, 1, 2, 0, 1, 2]
    with pytest.raises(InputError, match="not a folder"):
        build_clip_dataset(ClipData(format="strips", root=str(tmp_path / "nowhere")))
    with pytest.raises(ValueError, match="data.root is required"):
        ClipData(format="videos")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no clips"):
        StripDataset(tmp_path / "empty")
    from vidgan.config import from_dict

    with pytest.raises(ConfigError, match="must be one of"):
        from_dict(ClipData, {"format": "gifs"})


def test_shape_generator_is_deterministic_for_any_size_length_and_classes(tmp_path):
    a, b = shape_clip(5, size=48, length=20, num_classes=8, seed=1), shape_clip(5, size=48, length=20, num_classes=8, seed=1)
    assert np.array_equal(a.frames, b.frames) and a.frames.shape == (20, 48, 48, 3) and a.category == 5
    assert not np.array_equal(a.frames, shape_clip(5, size=48, length=20, num_classes=8, seed=2).frames)
    for index in range(8):
        clip = shape_clip(index, size=48, length=20, num_classes=8)
        travel = clip.centres[-1] - clip.centres[0]
        assert travel @ np.array(DIRECTIONS[index]) > 0.5 * 48  # moves across the frame its way
        colours = {tuple(c) for f in clip.frames for c in f.reshape(-1, 3)}
        assert colours == {(0, 0, 0), clip.colour}
    root = write_shape_motion(tmp_path / "shapes", 6, size=32, length=12, num_classes=3)
    strips = StripDataset(root, size=32, length=12)
    assert strips.classes == ["0", "1", "2"] and len(strips) == 6
    assert np.array_equal(to_uint8(strips[0]["video"]), shape_clip(0, size=32, length=12, num_classes=3).frames)


def test_tracker_passes_real_shape_clips_and_rejects_broken_ones(mocogan_shapes):
    dataset = mocogan_shapes
    picks = range(0, len(dataset), len(dataset) // 24)
    videos = torch.stack([dataset[i]["video"] for i in picks])
    categories = [dataset[i]["category"].item() for i in picks]
    scores = shape_motion_scores(videos, categories)
    assert scores.constant_shape == 1.0 and scores.direction == 1.0 and scores.videos == len(videos)
    assert "100.0%" in scores.describe()
    ours = ShapeMotionDataset(8, num_classes=4, size=64, length=16, every_nth=2)
    clips = [ours[i * 2] for i in range(8)]
    assert shape_motion_scores(torch.stack([c["video"] for c in clips]), [c["category"] for c in clips]).direction == 1.0

    clip = shape_clip(0, size=64, length=16)
    still = np.repeat(clip.frames[:1], 16, axis=0)
    assert track_shape(still).direction is None and track_shape(still).constant_shape
    two = clip.frames.copy()
    two[:, :4, :4] = 255  # a second object in the corner
    assert not track_shape(two).one_shape
    fading = clip.frames.copy()
    fading[8:] //= 2  # same shape, colour halves
    fading_track = track_shape(fading)
    assert fading_track.one_shape and not fading_track.constant_shape and fading_track.colour_change > 0.15
    noise = torch.rand(4, 16, 3, 64, 64) * 2 - 1
    assert shape_motion_scores(noise).constant_shape == 0.0
    assert track_shape(clip.frames, TrackerSettings(directions=8)).direction == 0
