"""The reference-warp generator and its parts: the thin-plate-spline warp, retrieval of the
nearest target frames by keypoints, the references file, training / export / reload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared
import torch
import yaml

from vidgan.config import bundled_config, load_config
from vidgan.data.dancer import DanceStyle, dancer_keypoints, write_dancer_video
from vidgan.data.reference_frames import ReferenceFrames, ReferencePairsDataset, ReferenceSettings
from vidgan.errors import ConfigError, InputError
from vidgan.io import VideoReader
from vidgan.keypoints import COCO17
from vidgan.keypoints.render import render_track
from vidgan.keypoints.retrieval import PoseIndex, retrieval_weights
from vidgan.keypoints.skeletons import IBUG68
from vidgan.keypoints.warp import tps_warp, unseen_openings, warp_frames
from vidgan.models.ref_warp import RefWarp
from vidgan.train.experiment import ExperimentConfig, run_experiment
from vidgan.train.logger import read_metrics

ROOT = Path(__file__).resolve().parents[1]
UNIT = bundled_config("configs/models/unit_test/ref_warp.yaml")


def _square(height: int = 64, width: int = 80) -> torch.Tensor:
    image = torch.zeros(1, 3, height, width)
    image[..., 20:30, 30:40] = 1.0  # centre (34.5, 24.5) in pixel coordinates
    return image


def _centre(image: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.nonzero(image[0, 0] > 0.5, as_tuple=True)
    return float(xs.float().mean()), float(ys.float().mean())


def test_tps_moves_known_points_where_they_should_go():
    image = _square()
    source = torch.tensor([[[34.5, 24.5], [10.0, 10.0], [60.0, 50.0], [20.0, 50.0]]])
    shift = torch.tensor([6.0, 4.0])
    warped, coverage = tps_warp(image, source, source + shift)
    x, y = _centre(warped)
    assert abs(x - 40.5) < 0.3 and abs(y - 28.5) < 0.3
    assert coverage.shape == (1, 1, 64, 80) and coverage.mean() > 0.95
    same, _ = tps_warp(image, source, source)
    assert torch.equal(same, image)  # points that stay put: the image comes back exactly


def test_tps_bends_locally_ignores_missing_points_and_keeps_the_border():
    image = _square()
    source = torch.tensor([[[34.5, 24.5], [10.0, 10.0], [60.0, 50.0], [float("nan"), 5.0]]])
    target = source.clone()
    target[0, 0] = torch.tensor([44.5, 24.5])  # only the square's centre moves, 10 px right
    target[0, 3] = torch.tensor([70.0, 60.0])  # a missing source point: no part of the warp
    warped, _ = tps_warp(image, source, target)
    x, y = _centre(warped)
    assert 41.5 < x < 45.5 and abs(y - 24.5) < 1.0 and warped[0, 0, 24, 44] > 0.9  # the centre moved
    assert torch.equal(warped[..., 0, :], image[..., 0, :])  # the fixed border keeps the frame's edge
    assert torch.allclose(warped[..., 55:, :20], image[..., 55:, :20], atol=1e-3)  # far from the points: fixed
    few, _ = tps_warp(image, source[:, :2], target[:, :2], anchors=0)  # < 3 usable points: unwarped
    assert torch.equal(few, image)
    with pytest.raises(ValueError, match="point sets"):
        tps_warp(image, source, target[:, :2])


def test_coinciding_points_do_not_break_the_warp():
    image = _square()
    source = torch.tensor([[[34.5, 24.5], [34.5, 24.5], [10.0, 10.0], [60.0, 50.0]]])  # a closed mouth
    warped, _ = tps_warp(image, source, source + torch.tensor([3.0, 0.0]))
    assert torch.isfinite(warped).all() and abs(_centre(warped)[0] - 37.5) < 1.0


def _track(frames: int, size=(64, 64), seed: int = 1) -> np.ndarray:
    return dancer_keypoints(frames, size, 24.0, DanceStyle.from_seed(seed))


def test_pose_index_finds_the_same_pose_and_skips_excluded_frames():
    points = _track(40)
    index = PoseIndex(points)
    assert index.nearest(points[17])[0] == 17
    assert index.distances(points[17])[17] == pytest.approx(0.0)
    exclude = np.zeros(40, bool)
    exclude[17] = True
    second = index.nearest(points[17], exclude=exclude)[0]
    assert second != 17 and np.isfinite(index.distances(points[17])[second])
    picks = index.nearest(points[17], 3, separation=5)
    assert len(set(picks)) == 3 and all(abs(a - b) >= 5 for a in picks for b in picks if a != b)
    missing = points[17].copy()
    missing[:, 2] = 0  # no point present: no frame is comparable, the first frame is returned
    assert np.isinf(index.distances(missing)).all() and index.nearest(missing)[0] == 0


def test_following_a_sequence_keeps_a_choice_that_stays_near_best():
    points = _track(60)
    chosen = PoseIndex(points).follow(points[10:30], 2, separation=4)
    assert chosen.shape == (20, 2) and (chosen[:, 0] == np.arange(10, 30)).mean() > 0.8
    flat = np.repeat(points[:1], 10, axis=0)  # ten identical frames: the first choice is kept
    assert (PoseIndex(flat).follow(flat[:5], 1, stickiness=0.15)[:, 0] == 0).all()


def test_face_retrieval_weighs_the_mouth():
    weights = retrieval_weights(IBUG68)
    assert weights[60] == 3 and weights[40] == 2 and weights[5] == 1
    assert (retrieval_weights(COCO17) == 1).all()


def test_a_face_is_retrieved_by_its_expression_whatever_its_head_tilt():
    """A real face (breakingbad.pts) smiling upright and frowning tilted by 5 degrees: a query
    smiling with that tilt finds the smile (in place alone, the tilt wins and finds the frown)."""
    lines = shared("faces/breakingbad.pts").read_text().splitlines()
    face = np.array([[float(v) for v in line.split()] for line in lines[3:71]])
    mouth, corners = np.arange(48, 68), np.array([48, 54, 60, 64])
    scale = np.ptp(face[:, 0])

    def posed(xy: np.ndarray, degrees: float) -> np.ndarray:
        angle = np.deg2rad(degrees)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = xy.mean(axis=0)
        return np.concatenate([(xy - centre) @ rotation.T + centre, np.ones((len(xy), 1))], axis=1)

    smile, frown = face.copy(), face.copy()
    smile[corners, 1] -= 0.05 * scale  # corners up
    smile[mouth, 0] = face[mouth, 0].mean() + 1.15 * (face[mouth, 0] - face[mouth, 0].mean())  # wider
    frown[corners, 1] += 0.05 * scale
    bank = np.stack([posed(smile, 0), posed(frown, 5)])
    query = posed(smile, 5)
    assert PoseIndex(bank, retrieval_weights(IBUG68)).nearest(query)[0] == 1  # in place: the tilt
    assert PoseIndex.for_skeleton(bank, IBUG68).nearest(query)[0] == 0  # with the expression term
    assert PoseIndex.for_skeleton(bank, IBUG68).distances(posed(frown, 5))[1] == pytest.approx(0, abs=1e-6)


def test_warping_the_nearest_frame_beats_showing_it(tmp_path):
    """The warp-only baseline on the synthetic dancer: each later frame's nearest earlier frame,
    warped onto its pose, is closer to it than the nearest frame itself (the background stays)."""
    video, track = write_dancer_video(tmp_path / "d.mp4", frames=48, size=(128, 128), seed=1, audio=False)
    frames = np.stack(list(VideoReader(video)))
    later = np.arange(24, 48)
    chosen = np.array([PoseIndex(track.points[:24]).nearest(track.points[t])[0] for t in later])
    batches = list(warp_frames(frames, track.points, chosen, track.points[later], batch=10))
    assert [len(b) for b in batches] == [10, 10, 4] and batches[0].dtype == np.uint8
    warped = np.concatenate(batches).astype(int)
    warp_error = np.abs(warped - frames[later]).mean()
    nearest_error = np.abs(frames[chosen].astype(int) - frames[later]).mean()
    assert warp_error < 0.85 * nearest_error
    [same] = warp_frames(frames, track.points, np.array([3]), track.points[[3]])
    assert np.array_equal(same[0], frames[3])  # onto its own keypoints: unchanged


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> ReferenceFrames:
    """The unit-test config's ``data.file`` (under ``out/``): 24 dancer frames at 64x64, kept so
    that ``vidgan train --config configs/models/unit_test/ref_warp.yaml`` also runs by hand."""
    video, track = write_dancer_video(tmp_path_factory.mktemp("dancer") / "d.mp4", frames=24, size=(64, 64), seed=3,
                                      audio=False)
    frames = np.stack(list(VideoReader(video)))
    data = ReferenceFrames(frames, track.points, render_track(track, (64, 64)), track.skeleton.name)
    data.save(ROOT / yaml.safe_load(UNIT.read_text())["data"]["file"])
    return data


def test_references_file_round_trip_and_bad_files(tmp_path, references):
    references.save(tmp_path / "references.npz")
    loaded = ReferenceFrames.load(tmp_path)  # a folder: its references.npz
    assert np.array_equal(loaded.frames, references.frames) and loaded.skeleton == "coco17"
    assert np.array_equal(loaded.points, references.points, equal_nan=True) and loaded.size == (64, 64)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        ReferenceFrames.load(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="no reference frames"):
        ReferenceFrames.load(tmp_path / "absent.npz")


def test_training_pairs_draw_references_away_from_the_frame(references):
    settings = ReferenceSettings(references=2, gap=4, candidates=3, repeats=2)
    dataset = ReferencePairsDataset(references, settings)
    assert len(dataset) == 48
    item = dataset[5]
    assert item["frames"].shape == (3, 64, 64) and item["references"].shape == (2, 3, 64, 64)
    assert item["maps"].shape == (3, 64, 64) and item["reference_points"].shape == (2, 17, 2)
    for i in range(24):  # every reference lies >= gap frames from the frame predicted
        t = i % 24
        chosen = [int(np.argmin(np.abs(references.points[:, :, :2] - p.numpy()).sum((1, 2))))
                  for p in dataset[i]["reference_points"]]
        assert all(abs(c - t) >= 4 for c in chosen)
    assert torch.equal(dataset[7]["references"], dataset[7]["references"])  # seeded by the item


def test_generator_starts_from_the_warped_references(references):
    model = RefWarp(map_channels=3, references=2, channels=(8, 16), num_d_scales=1, d_channels=8, d_layers=2)
    xy = torch.from_numpy(np.where(references.points[..., 2:] > 0, references.points[..., :2], np.nan)).float()
    frames = torch.from_numpy(references.frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    maps = torch.from_numpy(references.maps).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        out = model.generate(maps[:2], xy[:2], torch.stack([frames[:2], frames[:2]], 1), torch.stack([xy[:2], xy[:2]], 1))
    assert out.frames.shape == (2, 3, 64, 64) and out.weights.shape == (2, 3, 64, 64)
    assert torch.allclose(out.weights.sum(1), torch.ones(2, 64, 64), atol=1e-5)
    assert out.weights[:, :2].sum(1).mean() > 0.9  # untrained: the references' own pixels, not a drawing
    assert (out.frames - frames[:2]).abs().mean() < 0.1
    with pytest.raises(ValueError, match="takes 2 references"):
        model.generate(maps[:1], xy[:1], frames[:1, None], xy[:1, None])


def test_training_exports_reloads_and_renders(tmp_path, references):
    config = load_config(ExperimentConfig, UNIT, [f"data.file={ROOT / 'out/unit_test/ref_warp/references.npz'}"])
    result = run_experiment(config, tmp_path / "run")
    assert result.iterations == 3
    logged = read_metrics(tmp_path / "run")
    assert {"loss_g/l1", "loss_g/ssim", "loss_g/drawn", "loss_g/gan", "loss_g/feature_matching",
            "loss_d/image"} <= set(logged[-1])
    assert "loss_g/gan" not in logged[0]  # adversarial terms from iteration 1 on
    assert (tmp_path / "run" / "samples" / "iteration_0000003.png").is_file()
    model = RefWarp.from_pretrained(tmp_path / "run" / "model")
    chosen = PoseIndex(references.points).follow(references.points[:5], 2, separation=4)
    frames = np.concatenate(list(model.render(references.maps[:5], references.points[:5], references.frames,
                                              references.points, chosen, batch=2)))
    assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.uint8
    bad = load_config(ExperimentConfig, UNIT, [f"data.file={ROOT / 'out/unit_test/ref_warp/references.npz'}",
                                               "model.map_channels=1"])
    with pytest.raises(ConfigError, match="map_channels"):
        run_experiment(bad, tmp_path / "bad")


def _mouth(height: float) -> torch.Tensor:
    """A (1, 4, 2) diamond 'inner lip' contour 20 px wide and ``height`` px high, centred at (32, 32)."""
    return torch.tensor([[[22.0, 32.0], [32.0, 32 - height / 2], [42.0, 32.0], [32.0, 32 + height / 2]]])


def test_an_opening_wider_than_the_references_is_marked_unseen():
    open_mouth, closed = _mouth(16), _mouth(1)
    mask = unseen_openings(open_mouth, closed, (0, 1, 2, 3), (64, 64))[0, 0]
    assert mask[32, 32] == 1 and mask[32, 24] == 1 and mask[26, 32] == 1  # inside the driving contour
    assert mask[32, 20] == 0 and mask[20, 32] == 0 and mask[45, 32] == 0  # outside it
    assert 0.8 * 160 < mask.sum() < 1.2 * 160  # the diamond's area: 20 * 16 / 2
    assert unseen_openings(open_mouth, _mouth(12), (0, 1, 2, 3), (64, 64)).sum() == 0  # the reference is open too
    assert unseen_openings(closed, open_mouth, (0, 1, 2, 3), (64, 64)).sum() == 0  # closing is a warp's job
    missing = open_mouth.clone()
    missing[0, 1] = float("nan")
    assert unseen_openings(missing, closed, (0, 1, 2, 3), (64, 64)).sum() == 0  # no contour, nothing unseen


def test_the_model_draws_an_opening_no_reference_shows_and_can_choose_one_reference():
    torch.manual_seed(0)
    model = RefWarp(map_channels=1, references=2, channels=(8, 16), num_d_scales=1, d_channels=8, d_layers=2,
                    opening=(0, 1, 2, 3))
    references = torch.rand(1, 2, 3, 64, 64) * 2 - 1
    maps = torch.zeros(1, 1, 64, 64)
    with torch.no_grad():
        out = model.generate(maps, _mouth(16), references, torch.stack([_mouth(1), _mouth(1)], 1))
        sharp = model.generate(maps, _mouth(16), references, torch.stack([_mouth(1), _mouth(1)], 1),
                               choice_temperature=0.25)
    assert out.weights[0, 2, 32, 32] > 0.999 and torch.allclose(out.frames[0, :, 32, 32], out.drawn[0, :, 32, 32])
    assert out.weights[0, :2, 10, 10].sum() > 0.9  # elsewhere: the references, as before
    assert torch.allclose(sharp.weights.sum(1), torch.ones(1, 64, 64), atol=1e-5)
    assert torch.allclose(sharp.weights[:, 2], out.weights[:, 2])  # the share drawn is kept
    assert (sharp.weights[:, :2].amax(1) >= out.weights[:, :2].amax(1) - 1e-6).all()  # one reference, more decisively
    with pytest.raises(ValueError, match="at least 3 keypoints"):
        RefWarp(map_channels=1, opening=(0, 1))
