"""PG2 (pose-guided person generation): the pose mask, both stages, ``model(image, poses)``, the
pair datasets (memory, preprocessing layout, DeepFashion/Market CSV), two-stage training with
export and bit-exact resume, evaluation, and `vidgan pose-generate` end to end on the synthetic
dancer with its flow-guided output smoothing."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import safetensors.torch
import torch

from vidgan.pipelines.pose_generate import (
    PoseGenerateConfig,
    fit_scale_translation,
    run_pose_generate,
)
from vidgan.cli import main
from vidgan.config import bundled_config, load_config
from vidgan.data.dancer import (
    DanceStyle,
    dancer_keypoints,
    render_dancer,
    write_dancer_video,
)
from vidgan.data.layout import write_manifest
from vidgan.data.pose_pairs import (
    PosePairDataset,
    PosePairSettings,
    dancer_pairs,
    fit_image,
    pose_pair_dataset,
)
from vidgan.errors import InputError
from vidgan.io import VideoReader, VideoWriter, write_image
from vidgan.keypoints import COCO17, OPENPOSE18, Keypoints, load_tracks
from vidgan.metrics import warping_error
from vidgan.models.pose_guided import PoseGuidedGenerator, pose_mask
from vidgan.stages.blend import FlowBlender
from vidgan.train.experiment import ExperimentConfig, build_trainer, run_experiment
from vidgan.train.logger import read_metrics
from vidgan.train.recipes.pose_guided import evaluate_pairs

ROOT = Path(__file__).resolve().parents[1]
UNIT = bundled_config("configs/models/unit_test/pose_guided.yaml")
TINY = {"channels": (8, 16, 32), "refine_channels": (8, 16), "d_channels": 8, "d_layers": 2,
        "heatmap_sigma": 1.5, "mask_thickness": 4.0, "mask_dilation": 1}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(size: tuple[int, int] = (64, 32), seed: int = 0) -> PoseGuidedGenerator:
    torch.manual_seed(seed)
    return PoseGuidedGenerator(size=size, **TINY)


def dancer(frames: int, size: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(T, H, W, 3)`` of the synthetic dancer in a grey room and their COCO-17 points."""
    points = dancer_keypoints(frames, size, 24.0, DanceStyle.from_seed(seed))
    room = np.full((*size, 3), 128, np.uint8)
    return np.stack([render_dancer(p, room) for p in points]), points


def test_pose_mask_covers_the_body_and_grows_with_dilation():
    _, points = dancer(1, (128, 64))
    tensor = torch.from_numpy(points)
    thin = pose_mask(tensor, COCO17, (128, 64), thickness=4.0, dilation=0)[0, 0]
    wide = pose_mask(tensor, COCO17, (128, 64), thickness=4.0, dilation=3)[0, 0]
    assert set(thin.unique().tolist()) <= {0.0, 1.0} and bool((wide >= thin).all()) and wide.sum() > thin.sum()
    torso = points[0, [5, 6, 11, 12], :2].mean(axis=0)  # filled by the torso diagonals
    elbow = (points[0, 5, :2] + points[0, 7, :2]) / 2
    for x, y in (torso, elbow):
        assert thin[round(y), round(x)] == 1
    assert thin[2, 2] == 0 and thin[-3, -3] == 0
    tensor[..., 2] = 0  # every point missing: nothing to mask
    assert pose_mask(tensor, COCO17, (128, 64)).sum() == 0


def test_both_stages_and_the_refiner_starting_at_stage_one():
    model = tiny_model()
    condition = torch.rand(2, 3, 64, 32) * 2 - 1
    points = torch.from_numpy(dancer(2, (64, 32))[1])
    with torch.no_grad():
        output = model.generate(condition, points)
        coarse_only = model.generate(condition, points, stage=1)
    assert output.coarse.shape == output.refined.shape == (2, 3, 64, 32) and coarse_only.refined is None
    assert torch.equal(output.coarse, coarse_only.coarse) and output.coarse.abs().max() <= 1
    assert 0 < (output.refined - output.coarse).abs().max() < 0.1  # the refiner's last layer starts small
    with pytest.raises(ValueError, match="multiples of 8"):
        PoseGuidedGenerator(size=(60, 32), **TINY)
    with pytest.raises(ValueError, match="body layout"):
        PoseGuidedGenerator(size=(64, 32), skeleton="ibug68", **TINY)


def test_calling_the_model_animates_an_image_along_poses():
    model = tiny_model()
    frames, points = dancer(3, (128, 64))  # twice the model's size: image and poses are scaled alike
    track = Keypoints(points, COCO17, np.arange(3))
    out = model(frames[0], track)
    assert out.shape == (3, 64, 32, 3) and out.dtype == np.uint8
    assert np.array_equal(model(frames[0], track.to_openpose()), out)  # the other body layout is converted
    assert np.array_equal(model(frames[0], points), out)
    tensor = torch.from_numpy(frames[0]).permute(2, 0, 1).float() / 127.5 - 1
    assert np.abs(model(tensor, points).astype(int) - out).mean() < 1  # torch vs OpenCV area resizing
    assert model(frames[0], points, stage=1).shape == (3, 64, 32, 3)
    with pytest.raises(ValueError, match="poses must be"):
        model(frames[0], points[:, :5])


def test_fit_image_moves_points_with_the_pixels():
    image = np.zeros((200, 100, 3), np.uint8)
    image[120:124, 60:64] = 255  # centred at (61.5, 121.5)
    small, moved = fit_image(image, np.array([[61.5, 121.5, 1.0]], np.float32), (64, 64))
    assert small.shape == (64, 64, 3)
    ys, xs = np.nonzero(small[..., 0] > 40)
    weights = small[ys, xs, 0].astype(float)
    assert abs(np.average(xs, weights=weights) - moved[0, 0]) < 0.5
    assert abs(np.average(ys, weights=weights) - moved[0, 1]) < 0.5


def test_pairs_of_frames_in_memory():
    frames, points = dancer(6, (128, 64))
    dataset = PosePairDataset.from_frames(frames, Keypoints(points, COCO17, np.arange(6)), (64, 32), min_gap=2)
    assert len(dataset) == 6 * 5 - 2 * 5  # ordered pairs, minus those 1 frame apart
    assert (np.abs(dataset.pairs[:, 0] - dataset.pairs[:, 1]) >= 2).all()
    item = dataset[0]
    assert item["condition"].shape == item["target"].shape == (3, 64, 32)
    assert item["condition"].min() >= -1 and item["condition"].max() <= 1
    assert item["target_points"].shape == (17, 3)
    _, j = dataset.pairs[0]
    assert torch.allclose(item["target_points"][:, :2], torch.from_numpy((points[j, :, :2] + 0.5) / 2 - 0.5), atol=1e-4)
    people = PosePairDataset.from_frames(frames, points, (64, 32), person=np.array([0, 0, 0, 1, 1, 1]))
    assert len(people) == 2 * 3 * 2  # never across people
    openpose = PosePairDataset.from_frames(frames, Keypoints(points, COCO17, np.arange(6)), (64, 32), OPENPOSE18)
    assert openpose[0]["target_points"].shape == (18, 3)
    with pytest.raises(ValueError, match="openpose18"):
        PosePairDataset.from_frames(frames, points, (64, 32), OPENPOSE18)  # an array must be in the layout


def write_layout(root: Path, frames: np.ndarray, points: np.ndarray, first_frame: int) -> None:
    """A minimal `vidgan preprocess` folder: one video, one body track of crops from ``first_frame``."""
    folder = root / "videos" / "dancer"
    folder.mkdir(parents=True)
    with VideoWriter(folder / "track_0.mp4", 24, crf=12) as writer:
        writer.write_all(frames)
    frame_index = np.arange(first_frame, first_frame + len(frames))
    Keypoints(points, COCO17, frame_index, image_size=frames.shape[1:3]).save(folder / "track_0.npz")
    write_manifest(folder, {"video_id": "dancer", "task": "bodies", "settings": {}})
    (root / "videos" / "incomplete").mkdir()  # no manifest: ignored


def test_pairs_from_the_preprocessing_layout(tmp_path):
    frames, points = dancer(10, (64, 64))
    write_layout(tmp_path, frames, points, first_frame=100)
    dataset = PosePairDataset.from_layout(tmp_path, (64, 32), frames=(102, 108), stride=2)
    assert len(dataset.images) == 3 and len(dataset) == 6  # frames 102, 104, 106
    settings = load_config(PosePairSettings, None, [f"root={tmp_path}", "frames=[100, 110]", "min_gap=3"])
    assert len(pose_pair_dataset(settings, (64, 32), COCO17)) == 10 * 9 - 2 * (9 + 8)
    image, _ = dataset.images[0]
    decoded = frames[2][:, 16:48]  # the centred 64x32 of the 64x64 crop
    assert np.abs(image.astype(int) - decoded).mean() < 6  # H.264 at crf 12
    with pytest.raises(InputError, match="no body track"):
        PosePairDataset.from_layout(tmp_path, (64, 32), frames=(0, 50))


def test_deepfashion_market_pair_and_annotation_csv(tmp_path):
    frames, points = dancer(3, (64, 32))
    openpose = Keypoints(points, COCO17, np.arange(3)).to_openpose().points
    lines = ["name:keypoints_y:keypoints_x"]
    for t in range(3):
        write_image(tmp_path / f"p{t}.png", frames[t])
        ys, xs = np.rint(openpose[t, :, 1]).astype(int).tolist(), np.rint(openpose[t, :, 0]).astype(int).tolist()
        if t == 1:
            ys[4] = xs[4] = -1  # right wrist missing
        lines.append(f"p{t}.png: {ys}: {xs}")
    (tmp_path / "annotation.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "pairs.csv").write_text("from,to\np0.png,p1.png\np2.png,p0.png\n")
    settings = PosePairSettings(format="pair_csv", root=str(tmp_path), pairs=str(tmp_path / "pairs.csv"),
                                annotations=str(tmp_path / "annotation.csv"))
    dataset = pose_pair_dataset(settings, (64, 32), COCO17)
    assert len(dataset) == 2
    item = dataset[0]
    assert torch.equal(item["condition"], dataset[1]["target"])  # p0 in both pairs
    expected = np.rint(points[1, :, :2])
    got = item["target_points"].numpy()
    right_wrist = COCO17.index("right_wrist")
    assert np.allclose(np.delete(got[:, :2], right_wrist, 0), np.delete(expected, right_wrist, 0), atol=1e-4)
    assert got[right_wrist].tolist() == [0, 0, 0]
    (tmp_path / "pairs.csv").write_text("from,to\np0.png,nobody.png\n")
    with pytest.raises(InputError, match="without annotation"):
        pose_pair_dataset(settings, (64, 32), COCO17)
    (tmp_path / "annotation.csv").write_text("name,y,x\n")
    with pytest.raises(InputError, match="name:keypoints_y:keypoints_x"):
        pose_pair_dataset(settings, (64, 32), COCO17)


def unit_config(*overrides: str) -> ExperimentConfig:
    return load_config(ExperimentConfig, UNIT, list(overrides))


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(folder / "model" / "model.safetensors"))


def test_two_stage_training_rests_each_network_outside_its_stage(tmp_path):
    """Export, reload and resume are the family contract (tests/test_family_contract.py)."""
    straight = run_experiment(unit_config(), tmp_path / "straight")
    assert straight.iterations == 3
    metrics = read_metrics(tmp_path / "straight")
    assert ["loss_d/pair" in m for m in metrics] == [False, False, True]  # D rests during stage I
    assert ["loss_g/gan" in m for m in metrics] == [False, False, True] and all(m["loss_g/pose_l1"] > 0 for m in metrics)
    checkpoints = tmp_path / "straight" / "checkpoints"
    start, stage_two, end = (weights(checkpoints / f"iteration_000000{i}") for i in (0, 2, 3))
    discriminator = [k for k in start if k.startswith("discriminators.")]
    coarse = [k for k in start if k.startswith("generator.coarse.")]
    assert all(torch.equal(start[k], stage_two[k]) for k in discriminator)
    assert not all(torch.equal(start[k], stage_two[k]) for k in coarse)
    assert all(torch.equal(stage_two[k], end[k]) for k in coarse)  # stage I frozen in stage II
    assert not all(torch.equal(stage_two[k], end[k]) for k in discriminator)
    model = PoseGuidedGenerator.from_pretrained(tmp_path / "straight" / "model")
    assert model.size == (64, 32) and (tmp_path / "straight" / "samples" / "iteration_0000003.png").is_file()


def test_flipped_pairs_mirror_images_and_keypoints_alike(tmp_path):
    trainer = build_trainer(unit_config(), tmp_path)
    dataset = dancer_pairs(6, (64, 32), min_gap=2)
    batch = {k: torch.stack([dataset[i][k] for i in range(2)]) for k in dataset[0]}
    flips = [trainer._flipped(batch) for _ in range(4)]
    mirrored = [(f, b) for f in flips for b in range(2) if not torch.equal(f["target"][b], batch["target"][b])]
    assert mirrored and len(mirrored) < 8  # about half of the samples
    flipped, b = mirrored[0]
    assert torch.equal(flipped["target"][b], batch["target"][b].flip(-1))
    left, right = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    original = batch["target_points"][b]
    assert flipped["target_points"][b, left, 0] == pytest.approx(31 - original[right, 0].item())
    assert torch.equal(flipped["target_points"][b, left, 1:], original[right, 1:])


def test_evaluation_scores_the_identity_baseline_and_both_stages():
    model = tiny_model()
    dataset = dancer_pairs(8, (64, 32), min_gap=3)

    def nobody(frame):
        return np.zeros((0, 17, 3), np.float32), np.zeros((0, 5), np.float32)

    scores = evaluate_pairs(model, dataset, np.arange(6), keypointer=nobody, batch=4)
    assert set(scores) == {"identity", "stage1", "stage2", "real"}
    assert scores["real"]["ssim"] == pytest.approx(1.0, abs=1e-4)
    assert scores["real"]["mask_ssim"] == pytest.approx(1.0, abs=1e-4)
    assert 0 < scores["identity"]["ssim"] < 1 and 0 < scores["identity"]["mask_ssim"] < 1
    assert scores["stage2"]["pck@0.2"] == 0.0  # nobody found in any image
    assert set(evaluate_pairs(model, dataset, [0])) == {"identity", "stage1", "stage2"}


def test_fit_scale_translation_recovers_a_known_framing():
    _, points = dancer(5, (128, 128))
    reference = points[2].copy()
    moved = points.copy()
    moved[..., :2] = (points[..., :2] - [10.0, 20.0]) / 2
    median = np.median(points[..., :2], axis=0)
    reference[:, :2] = median
    scale, shift = fit_scale_translation(moved, reference, list(range(17)))
    assert scale == pytest.approx(2.0, rel=1e-4) and shift == pytest.approx([10.0, 20.0], abs=1e-3)


@pytest.fixture(scope="module")
def dancer_files(tmp_path_factory) -> dict[str, Path]:
    """A 64x64 dancer photo with its keypoints, 8 driving poses of another dancer, a tiny model."""
    folder = tmp_path_factory.mktemp("pose_generate")
    frames, points = dancer(1, (64, 64), seed=0)
    write_image(folder / "person.png", frames[0])
    Keypoints(points, COCO17, np.arange(1), image_size=(64, 64)).save(folder / "person.npz")
    driving = dancer_keypoints(8, (256, 256), 24.0, DanceStyle.from_seed(3))
    Keypoints(driving, COCO17, np.arange(8), fps=24, image_size=(256, 256)).save(folder / "driving.npz")
    tiny_model((64, 64), seed=1).save_pretrained(folder / "model")
    return {name: folder / name for name in ("person.png", "person.npz", "driving.npz", "model")}


def generate(files: dict[str, Path], out: Path, **settings: object) -> np.ndarray:
    config = PoseGenerateConfig(image=str(files["person.png"]), poses=str(files["driving.npz"]),
                                model=str(files["model"]), image_pose=str(files["person.npz"]), out=str(out),
                                device="cpu", **settings)
    report = run_pose_generate(config)
    assert report.out == out and report.frames == len(list(VideoReader(out)))
    return np.stack(list(VideoReader(out)))


def test_pose_generate_from_keypoint_files_and_flow_blending(dancer_files, tmp_path):
    plain = generate(dancer_files, tmp_path / "plain.mp4", blend=0.0)
    assert plain.shape == (8, 64, 64, 3)
    part = generate(dancer_files, tmp_path / "part.mp4", blend=0.0, frames="2:5", smooth="none")
    assert part.shape == (3, 64, 64, 3)
    blended = generate(dancer_files, tmp_path / "blended.mp4", blend=0.6)
    assert warping_error(blended) < warping_error(plain)


def test_flow_blender_keeps_what_it_cannot_trust():
    frame = np.full((32, 32, 3), 100, np.uint8)
    blender = FlowBlender(0.5)
    assert np.array_equal(blender(frame), frame)
    brighter = frame + 40
    assert np.abs(blender(brighter).astype(int) - 120).max() <= 1  # still scene: half of the previous
    assert np.array_equal(FlowBlender(0.0)(brighter), brighter)


def test_low_pass_blending_smooths_shading_and_keeps_the_new_frames_detail():
    rng = np.random.default_rng(0)
    texture = rng.integers(-20, 21, (64, 64, 1)).repeat(3, axis=2)
    first = (100 + texture).astype(np.uint8)
    second = (140 + np.roll(texture, 1, axis=0)).astype(np.uint8)  # brighter, its detail new
    blender = FlowBlender(0.5, low_pass=3.0)
    blender(first)
    out = blender(second).astype(int)
    assert abs(out.mean() - 120) < 4  # the shading: half way to the previous frame
    detail = out - cv2.GaussianBlur(out.astype(np.float32), (0, 0), 3.0)
    wanted = second.astype(int) - cv2.GaussianBlur(second.astype(np.float32), (0, 0), 3.0)
    assert np.abs(detail - wanted).mean() < 1.0  # the fine detail: the new frame's own
    with pytest.raises(ValueError, match="low_pass"):
        FlowBlender(0.5, low_pass=0)


def test_pose_generate_command_extracts_poses_from_video_and_image(tmp_path, dancer_files):
    video, _ = write_dancer_video(tmp_path / "driving.mp4", frames=4, size=(128, 128), seed=2, audio=False)
    person, _ = write_dancer_video(tmp_path / "person.mp4", frames=1, size=(128, 128), seed=5, audio=False)
    write_image(tmp_path / "person.png", next(iter(VideoReader(person))))
    out = tmp_path / "result.mp4"
    run = tmp_path / "run"
    run.mkdir()
    (run / "model").symlink_to(dancer_files["model"])  # a training run folder works too
    code = main(["pose-generate", "--image", str(tmp_path / "person.png"), "--poses", str(video), "--out", str(out),
                 "--model", str(run), "--blend", "0.3", "smooth=none", "device=cpu"])
    assert code == 0 and len(list(VideoReader(out))) == 4
    extracted = load_tracks(out.with_suffix(".poses.npz"))[0]
    assert extracted.detected_frames.all()
    assert main(["pose-generate", "--image", str(tmp_path / "nothing.png"), "--poses", str(video), "--out",
                 str(out), "--model", str(dancer_files["model"])]) == 2
    assert json.loads((dancer_files["model"] / "config.json").read_text())["args"]["size"] == [64, 64]
