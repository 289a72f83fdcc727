"""The Keypoints type, its file format, skeleton conversions and the IoU tracker."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vidgan.errors import InputError
from vidgan.keypoints import COCO17, IBUG68, OPENPOSE18, Keypoints, load_tracks, save_tracks
from vidgan.keypoints.track import IoUTracker, stable_crop_boxes


def random_track(frames=6, skeleton=COCO17, track_id=0, seed=0):
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, 100, (frames, skeleton.num_joints, 3)).astype(np.float32)
    points[..., 2] = rng.uniform(0.1, 1, (frames, skeleton.num_joints))
    return Keypoints(points, skeleton, np.arange(10, 10 + frames), video_id="clip", fps=Fraction(30000, 1001),
                     image_size=(120, 160), track_id=track_id)


def test_missing_points_are_nan_with_zero_confidence_never_zero():
    track = random_track()
    points = track.points.copy()
    points[2, 3, 2] = 0.0  # undetected
    points[4, 5, 0] = np.nan  # no coordinate
    cleaned = track.with_points(points)
    assert np.isnan(cleaned.xy[2, 3]).all() and cleaned.confidence[2, 3] == 0
    assert np.isnan(cleaned.xy[4, 5]).all() and cleaned.confidence[4, 5] == 0
    assert cleaned.visible.sum() == cleaned.visible.size - 2
    empty = Keypoints.missing(4, IBUG68)
    assert np.isnan(empty.xy).all() and not empty.detected_frames.any()


def test_shape_is_checked_against_the_skeleton():
    with pytest.raises(ValueError, match=r"\(T, 68, 3\) for ibug68"):
        Keypoints(np.zeros((3, 17, 3)), IBUG68, np.arange(3))


def test_save_load_round_trip_keeps_every_field(tmp_path):
    tracks = [random_track(track_id=0), random_track(track_id=3, seed=1)]
    tracks[1].points[1] = (np.nan, np.nan, 0)
    path = save_tracks(tmp_path / "kp.npz", tracks)
    assert path.with_suffix(".json").is_file()
    loaded = load_tracks(path)
    assert [t.track_id for t in loaded] == [0, 3]
    for original, copy in zip(tracks, loaded):
        assert np.array_equal(original.points, copy.points, equal_nan=True)
        assert np.array_equal(original.frame_index, copy.frame_index)
        assert (copy.video_id, copy.fps, copy.image_size, copy.skeleton) == ("clip", Fraction(30000, 1001), (120, 160), COCO17)


def test_an_empty_result_round_trips(tmp_path):
    path = save_tracks(tmp_path / "none.npz", [], skeleton=IBUG68, video_id="no_face", fps=24, image_size=(540, 960))
    assert load_tracks(path) == []


def test_bad_keypoint_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such keypoints file"):
        load_tracks(tmp_path / "missing.npz")
    save_tracks(tmp_path / "kp.npz", [random_track()])
    (tmp_path / "kp.json").write_text('{"format": "other"}')
    with pytest.raises(InputError, match="not a vidgan.keypoints"):
        load_tracks(tmp_path / "kp.npz")


def test_coco_to_openpose_adds_the_neck_and_reorders():
    track = random_track()
    openpose = track.to_openpose()
    assert openpose.skeleton is OPENPOSE18
    assert np.allclose(openpose.xy[:, 1], track.xy[:, [5, 6]].mean(axis=1))
    assert np.array_equal(openpose.points[:, OPENPOSE18.index("right_wrist")], track.points[:, COCO17.index("right_wrist")])


def test_slicing_keeps_frame_indices():
    track = random_track()[2:5]
    assert track.frame_index.tolist() == [12, 13, 14] and len(track) == 3


def test_tracker_keeps_identities_through_a_crossing_and_a_gap():
    tracker = IoUTracker(max_missed=3)
    ids = []
    for t in range(20):
        a = [10 + 4 * t, 10, 50 + 4 * t, 50, 0.9]  # moves right
        b = [150 - 4 * t, 60, 190 - 4 * t, 100, 0.8]  # moves left, lower: never overlaps a much
        boxes = np.array([a, b] if not 8 <= t < 10 else [a], np.float32)  # b unseen for 2 frames
        ids.append(tracker.update(boxes))
    assert all(frame_ids[0] == 0 for frame_ids in ids)
    assert all(frame_ids[1] == 1 for frame_ids in ids if len(frame_ids) == 2)
    boxes = tracker.track_boxes()
    assert np.isnan(boxes[1][8:10]).all() and np.isfinite(boxes[1][10:]).all()
    assert list(tracker.track_boxes(max_tracks=1)) == [0]  # the larger... both equal: first


def test_stable_crop_boxes_do_not_shake():
    rng = np.random.default_rng(0)
    t = np.arange(40)
    boxes = np.stack([100 + t, 100 + 0 * t, 160 + t, 160 + 0 * t, np.ones(40)], axis=1).astype(np.float32)
    noisy = boxes.copy()
    noisy[:, :4] += rng.normal(0, 3, (40, 4))
    crops = stable_crop_boxes(noisy)
    assert np.abs(np.diff(crops[5:-5, 0], 2)).mean() < np.abs(np.diff(noisy[5:-5, 0], 2)).mean() / 3
    assert np.allclose(crops[:, 2] - crops[:, 0], crops[:, 3] - crops[:, 1])  # square


def _damage_sidecar(path, **changes):
    import json

    sidecar = path.with_suffix(".json")
    metadata = json.loads(sidecar.read_text())
    metadata.update(changes)
    sidecar.write_text(json.dumps(metadata))


def _damage_arrays(path, **arrays):
    with np.load(path) as stored:
        kept = {k: stored[k] for k in stored.files if k not in arrays}
    np.savez(path, **kept, **{k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize(("damage", "file", "problem"), [
    (lambda p: p.write_bytes(b"not a zip file at all"), ".npz", "not a valid keypoints file"),
    (lambda p: _damage_arrays(p, track_0_points=None), ".npz", r"not a valid keypoints file \(missing"),
    (lambda p: _damage_arrays(p, track_0_points=np.zeros((6, 5, 3))), ".npz", r"\(T, 17, 3\) for coco17"),
    (lambda p: _damage_arrays(p, track_0_points=np.zeros((6, 17))), ".npz", r"\(T, 17, 3\) for coco17"),
    (lambda p: _damage_arrays(p, track_0_frame_index=np.arange(4)), ".npz", r"frame_index must be \(6,\)"),
    (lambda p: _damage_sidecar(p, skeleton="octopus8"), ".json", "unknown skeleton 'octopus8'"),
    (lambda p: _damage_sidecar(p, fps=0), ".json", "must be positive"),
    (lambda p: _damage_sidecar(p, image_size=[-1, 5]), ".json", "two sizes"),
    (lambda p: _damage_sidecar(p, fps="1/0"), ".json", "not a valid keypoints sidecar"),
    (lambda p: _damage_sidecar(p, tracks=None), ".json", "not a valid keypoints sidecar"),
])
def test_a_damaged_keypoints_file_is_one_error_naming_it(tmp_path, damage, file, problem):
    path = save_tracks(tmp_path / "kp.npz", [random_track()])
    damage(path)
    with pytest.raises(InputError, match=problem) as error:
        load_tracks(path)
    assert str(error.value).startswith(str(path.with_suffix(file)))
