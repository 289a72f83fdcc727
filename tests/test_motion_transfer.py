"""The motion-transfer workflows: footage fitting, keypoint maps, retargeting, the resumable
workspace, and `vidgan transfer` end to end on the synthetic dancer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared

from vidgan.pipelines.footage import Fit, frame_range, select_frames
from vidgan.pipelines.motion_transfer import (
    MotionTransferConfig,
    frame_size,
    retarget,
    run_motion_transfer,
)
from vidgan.pipelines.workspace import Workspace
from vidgan.cli import main
from vidgan.data.dancer import DanceStyle, dancer_keypoints, write_dancer_video
from vidgan.errors import InputError
from vidgan.io import VideoReader, probe
from vidgan.keypoints import COCO17, IBUG68, Keypoints, load_tracks
from vidgan.keypoints.align import head_boxes
from vidgan.keypoints.render import render_track


def test_frame_ranges_follow_python_slices():
    assert frame_range(":", 288, path="v.mp4") == (0, 288)
    assert frame_range("0:200", 288, path="v.mp4") == (0, 200)
    assert frame_range("-80:", 288, path="v.mp4") == (208, 288)
    with pytest.raises(InputError, match="v.mp4: frame range '300:' selects no frame"):
        frame_range("300:", 288, path="v.mp4")
    with pytest.raises(InputError, match="start:stop"):
        frame_range("5", 288, path="v.mp4")


def test_fit_moves_keypoints_with_the_pixels():
    fit = Fit((1920, 1080), (224, 128))  # portrait footage into a portrait model frame
    x0, y0, w, h = fit.crop
    assert (w / h) == pytest.approx(128 / 224, abs=0.01) and x0 == 0 or y0 == 0
    frame = np.zeros((1920, 1080, 3), np.uint8)
    frame[1000:1010, 500:510] = 255  # a bright square centred at (505, 1005)
    small = fit.frame(frame)
    assert small.shape == (224, 128, 3)
    points = np.array([[[505.0, 1005.0, 1.0]]], np.float32)
    moved = fit.keypoints(Keypoints(points, _one_joint_skeleton(), np.arange(1))).points[0, 0]
    ys, xs = np.nonzero(small[..., 0] > 60)
    assert abs(xs.mean() - moved[0]) < 1.0 and abs(ys.mean() - moved[1]) < 1.0


def test_fit_around_a_face_track_holds_it_inside_the_frame():
    points = np.zeros((2, 68, 3), np.float32)
    points[..., 2] = 1
    points[0, :, :2] = np.random.default_rng(0).uniform([560, 100], [630, 170], (68, 2))  # near the right edge
    points[1, :, :2] = points[0, :, :2] + [5, 3]
    fit = Fit.around(Keypoints(points, IBUG68, np.arange(2)), (360, 640), (128, 128))
    x0, y0, w, h = fit.crop
    assert w == h and x0 + w <= 640 and y0 >= 0 and y0 + h <= 360
    moved = fit.keypoints(Keypoints(points, IBUG68, np.arange(2))).xy
    assert moved.min() >= 0 and moved.max() <= 128
    assert 1.5 < 128 / (moved[..., 0].max() - moved[..., 0].min()) < 2.2  # margin 1.8 around the face


def _one_joint_skeleton():
    from vidgan.keypoints.skeletons import Skeleton

    return Skeleton(name="one", joints=("point",), edges=())


def test_one_number_sizes_keep_the_footage_aspect():
    from vidgan.train.experiment import ExperimentConfig

    square = ExperimentConfig(family="vid2vid", model={"n_downsample": 3, "n_scales": 1}, data={"size": 128})
    assert frame_size(square, (1920, 1080)) == (168, 96)  # portrait: 128 x 128 pixels, multiples of 8
    assert frame_size(square, (360, 640)) == (96, 168)
    assert frame_size(square, (512, 512)) == (128, 128)
    given = ExperimentConfig(family="vid2vid", data={"size": [224, 128]})
    assert frame_size(given, (360, 640)) == (224, 128)


def test_select_frames_needs_the_whole_range():
    track = Keypoints(np.ones((10, 17, 3), np.float32), COCO17, np.arange(100, 110))
    assert list(select_frames(track, 102, 105, path="p.npz").frame_index) == [102, 103, 104]
    with pytest.raises(InputError, match="lack frames 110..111"):
        select_frames(track, 108, 112, path="p.npz")


def test_maps_and_head_boxes_of_the_dancer():
    points = dancer_keypoints(4, (128, 128), 24.0, DanceStyle.from_seed(1))
    track = Keypoints(points, COCO17, np.arange(4))
    maps = render_track(track, (128, 128))
    assert maps.shape == (4, 128, 128, 3) and maps.dtype == np.uint8 and maps.max() > 200
    boxes = head_boxes(track)
    nose = points[:, 0, :2]
    assert ((boxes[:, 0] < nose[:, 0]) & (nose[:, 0] < boxes[:, 2]) & (boxes[:, 1] < nose[:, 1])).all()
    face = Keypoints(np.full((2, 68, 3), np.nan, np.float32), IBUG68, np.arange(2))
    assert render_track(face, (64, 64)).shape == (2, 64, 64, 1)
    assert np.isnan(head_boxes(Keypoints.missing(2, COCO17))).all()


def test_face_retargeting_keeps_the_target_face_and_moves_with_the_driver():
    rng = np.random.default_rng(0)
    neutral = np.concatenate([rng.uniform(40, 90, (68, 2)), np.ones((68, 1))], axis=1).astype(np.float32)
    target = Keypoints(np.repeat(neutral[None], 3, axis=0), IBUG68, np.arange(3))
    driving_points = np.repeat((neutral * [2, 2, 1] + [10, 5, 0])[None], 3, axis=0).astype(np.float32)
    driving_points[2, 48:68, 1] += 8.0  # the mouth opens in the last driving frame
    moved = retarget("face", Keypoints(driving_points, IBUG68, np.arange(3)), target)
    assert np.allclose(moved.xy[0], neutral[:, :2], atol=1e-3)  # first frame is the neutral face
    assert (moved.xy[2, 48:68, 1] > neutral[48:68, 1] + 3).all()  # half the motion (scale 2 -> 1)


def test_workspace_reuses_a_step_only_for_the_same_inputs(tmp_path):
    calls = []

    def run():
        calls.append(1)
        (tmp_path / "w" / "out.txt").write_text("x")

    workspace = Workspace(tmp_path / "w")
    assert workspace.step("s", {"a": 1}, ["out.txt"], run)
    assert not Workspace(tmp_path / "w").step("s", {"a": 1}, ["out.txt"], run)  # a second run reuses it
    assert Workspace(tmp_path / "w").step("s", {"a": 2}, ["out.txt"], run)  # other inputs: runs again
    (tmp_path / "w" / "out.txt").unlink()
    assert Workspace(tmp_path / "w").step("s", {"a": 2}, ["out.txt"], run)  # output gone: runs again
    assert len(calls) == 3


@pytest.mark.slow
@pytest.mark.parametrize("generator,audio", [("ref_warp", False), ("vid2vid", True)])
def test_transfer_end_to_end_on_the_synthetic_dancer(tmp_path, capsys, generator, audio):
    """Both generators, one with a silent source (the output is silent), one with a soundtrack."""
    target, target_poses = write_dancer_video(tmp_path / "target.mp4", frames=24, size=(64, 64), seed=1, audio=False)
    source, _ = write_dancer_video(tmp_path / "source.mp4", frames=12, size=(64, 64), seed=2, audio=audio)
    out = tmp_path / "result.mp4"
    args = ["transfer", "--source", str(source), "--target", str(target), "--out", str(out),
            "--preset", f"configs/models/{generator}_demo.yaml", "--source-frames", "2:", "--target-frames", ":",
            "train=[train.iterations=2, train.minutes=null, data.size=64, train.checkpoint_every=1, train.log_every=1]",
            f"target_track={tmp_path / 'target.poses.npz'}", "chunk=4"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "[train] done" in first.err and "[generate] done" in first.err
    assert "result: " in first.out and "nearest: " in first.out and "warp_only: " in first.out
    info = probe(out)
    assert info.frames == 10 and info.has_audio == audio  # the source's audio, frames 2..11
    assert info.size == (256, 256)  # 64x64 model frames, enlarged to a long side of 256
    metrics = json.loads((tmp_path / "result.work" / "metrics.json").read_text())
    for method in ("nearest", "warp_only", "result"):
        assert {f"{method}/{k}" for k in ("found", "pck@0.2", "sharpness", "warping_error")} <= set(metrics)
    assert "frame_by_frame/warping_error" in metrics
    report = (tmp_path / "result.report.html").read_text()
    assert "panel.mp4" in report and "pck@0.2" in report and "warp_only" in report and "data:image/png;base64" in report
    assert probe(tmp_path / "result.work" / "panel.mp4").size == (64, 5 * 64)
    assert not probe(tmp_path / "result.work" / "panel.mp4").has_audio
    # the given target track was used as is (moved into the model frame: same size, so equal)
    used = load_tracks(tmp_path / "result.work" / "target_track.npz")[0]
    assert np.allclose(used.xy, target_poses.xy, atol=1e-4)
    assert main(args) == 0  # a second run with the same arguments reuses every step
    second = capsys.readouterr().err
    assert "running" not in second and second.count("reusing") == 8
    assert len(list(VideoReader(out))) == 10


def test_bad_outputs_are_refused_before_any_work(tmp_path, capsys):
    source, _ = write_dancer_video(tmp_path / "source.mp4", frames=4, size=(64, 64), seed=2, audio=False)
    common = ["transfer", "--source", str(source), "--target", str(source)]
    (tmp_path / "folder.mp4").mkdir()
    before = sorted(tmp_path.iterdir())
    cases = {str(tmp_path / "o.txt"): "must be a .mp4 / .mov / .mkv file", str(source): "is also an input",
             str(tmp_path / "folder.mp4"): "is a directory", str(source / "o.mp4"): "cannot be written"}
    for out, message in cases.items():
        assert main([*common, "--out", out]) == 2
        err = capsys.readouterr().err
        assert message in err and Path(out).name in err and len(err.strip().splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == before  # nothing written
    assert probe(source).frames == 4  # the input is untouched


def test_a_face_found_in_too_few_frames_stops_before_training(tmp_path, capsys):
    face, empty = shared("videos/single_face.mp4"), shared("videos/no_face.mp4")
    out = tmp_path / "o.mp4"
    assert main(["reenact", "--driving", str(face), "--target", str(empty), "--out", str(out),
                 "--target-frames", ":8", "--driving-frames", ":8"]) == 2
    err = capsys.readouterr().err
    assert "no_face.mp4: a face is found in 0% of frames 0:8" in err
    assert not out.exists() and not (tmp_path / "o.work" / "train").exists()


def test_bad_transfer_inputs_are_clear_errors(tmp_path, capsys):
    source, _ = write_dancer_video(tmp_path / "source.mp4", frames=4, size=(64, 64), seed=2, audio=False)
    assert main(["transfer", "--source", str(source), "--target", str(tmp_path / "missing.mp4"),
                 "--out", str(tmp_path / "o.mp4")]) == 2
    assert "missing.mp4" in capsys.readouterr().err
    assert main(["transfer", "--source", str(source), "--target", str(source), "--out", str(tmp_path / "o.mp4"),
                 "--preset", "cpu-huge"]) == 2
    assert "cpu-small" in capsys.readouterr().err
    assert main(["transfer", "--source", str(source), "--target", str(source), "--out", str(tmp_path / "o.mp4"),
                 "--source-frames", "10:"]) == 2
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.work").exists()  # no empty workspace either


def test_a_track_or_model_of_the_other_kind_is_refused_before_any_work(tmp_path, capsys):
    """A face track or a face model given to a dance transfer (and the reverse) is one line."""
    from vidgan.data.reference_frames import REFERENCES_FILE, ReferenceFrames
    from vidgan.keypoints import IBUG68, Keypoints, save_tracks

    source, _ = write_dancer_video(tmp_path / "source.mp4", frames=4, size=(64, 64), seed=2, audio=False)
    face_track = save_tracks(tmp_path / "face.npz", [Keypoints.missing(4, IBUG68, fps=25, image_size=(64, 64))])
    face_model = tmp_path / "face_model"
    face_model.mkdir()
    ReferenceFrames(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 68, 3), np.float32), np.zeros((2, 8, 8, 1), np.uint8),
                    "ibug68").save(face_model / REFERENCES_FILE)
    common = ["transfer", "--source", str(source), "--target", str(source), "--out", str(tmp_path / "o.mp4")]
    assert main([*common, f"target_track={face_track}"]) == 2
    assert "face.npz: holds ibug68 keypoints; a dance needs coco17" in capsys.readouterr().err
    assert main([*common, "--model", str(face_model)]) == 2
    assert "face_model: is a model of ibug68 keypoints (a face); this run needs coco17" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.work").exists()


def test_config_rejects_mismatched_tracking():
    with pytest.raises(ValueError, match="face transfer tracks face keypoints"):
        MotionTransferConfig(kind="face", driving="a.mp4", target="b.mp4")
    assert run_motion_transfer  # the workflow entry point is importable
