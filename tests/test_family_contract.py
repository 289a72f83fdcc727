"""The contract every registered model family keeps, on its ``configs/models/unit_test/`` preset:
train from the command line, export, ``from_pretrained`` the EMA generator, and, killed with
SIGKILL right after a checkpoint, resume to bit-identical weights, EMA and losses. A family with
phases (Age-cGAN's encoder stage, PG2's stage II) crosses its phase change within the run and the
kill falls on it. Then two gloo workers on Ray Train follow one process through a phase change,
and the network resting in a phase stays bit-identical on every worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from vidgan.config import bundled_config, load_config
from vidgan.data.dancer import write_dancer_video
from vidgan.data.paired_video import write_paired_dataset
from vidgan.data.reference_frames import ReferenceFrames
from vidgan.io import VideoReader
from vidgan.keypoints.render import render_track
from vidgan.models import FAMILIES
from vidgan.models.base import GANModel
from vidgan.train.experiment import ExperimentConfig, run_experiment
from vidgan.train.logger import read_metrics

ROOT = Path(__file__).resolve().parents[1]
#: Every family runs 4 iterations with a checkpoint at 2, where the phased families change phase.
SCHEDULE = ["train.iterations=4", "train.checkpoint_every=2", "train.sample_every=4", "train.log_every=1"]
KILLED_AT = 2

#: ``vidgan train`` whose process kills itself with SIGKILL right after writing checkpoint argv[1].
KILL_AFTER_CHECKPOINT = """
import os, signal, sys
from vidgan.train.trainer import GANTrainer
save = GANTrainer._save
def save_then_die(self):
    save(self)
    if self.iteration == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
GANTrainer._save = save_then_die
from vidgan.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def dancer(tmp_path_factory) -> tuple[np.ndarray, object]:
    """24 frames of the synthetic dancer at 64x64 and its keypoint track."""
    video, track = write_dancer_video(tmp_path_factory.mktemp("dancer") / "d.mp4", frames=24, size=(64, 64), seed=3,
                                      audio=False)
    return np.stack(list(VideoReader(video))), track


def data_overrides(family: str, dancer, folder: Path) -> list[str]:
    """What a family's unit preset needs beyond itself: the file-backed datasets, written here."""
    frames, track = dancer
    maps = render_track(track, (64, 64))
    if family == "vid2vid":
        gray = maps.max(axis=-1, keepdims=True)  # the preset's one-channel maps
        head = track.xy[:, :5]  # nose, eyes, ears: the preset refines the face
        boxes = np.concatenate([head.min(axis=1) - 6, head.max(axis=1) + 6], axis=1).astype(np.float32)
        write_paired_dataset(frames, torch.from_numpy(gray).permute(0, 3, 1, 2).float() / 255, folder / "paired",
                             face_boxes=boxes)
        return [f"data.folder={folder / 'paired'}"]
    if family == "ref_warp":
        ReferenceFrames(frames, track.points, maps, track.skeleton.name).save(folder / "references.npz")
        return [f"data.file={folder / 'references.npz'}"]
    return []


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's live model (``model/...``) and EMA generator (``ema/...``, when kept)."""
    files = {"model": checkpoint / "model" / "model.safetensors", "ema": checkpoint / "ema.safetensors"}
    assert files["model"].is_file(), checkpoint
    return {f"{name}/{key}": value for name, file in files.items() if file.is_file()
            for key, value in safetensors.torch.load_file(str(file)).items()}


def losses(run: Path) -> list[dict[str, float]]:
    return [{k: v for k, v in m.items() if k != "it_per_s"} for m in read_metrics(run)]


def vidgan_train(family: str, run: Path, overrides: list[str], kill_after: int | None = None):
    args = ["train", "--config", f"configs/models/unit_test/{family}.yaml", "--run-dir", str(run), *overrides]
    command = [sys.executable, "-c", KILL_AFTER_CHECKPOINT, str(kill_after)] if kill_after else [
        sys.executable, "-m", "vidgan.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600, cwd=run.parent,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_family_trains_exports_reloads_and_resumes_bit_exactly_after_sigkill(family, dancer, tmp_path):
    overrides = [*data_overrides(family, dancer, tmp_path), *SCHEDULE]
    straight = vidgan_train(family, tmp_path / "straight", overrides)
    assert straight.returncode == 0, straight.stderr
    final = tmp_path / "straight" / "checkpoints" / "iteration_0000004"
    expected = weights(final)

    # the export is the EMA generator (the live one without EMA), and loads through the registry
    model = GANModel.from_pretrained(tmp_path / "straight" / "model")
    assert type(model).__module__ == f"vidgan.models.{family}"
    source = "ema/" if any(key.startswith("ema/") for key in expected) else "model/generator."
    generator = {key.removeprefix(source): value for key, value in expected.items() if key.startswith(source)}
    exported = model.generator.state_dict()
    assert exported.keys() == generator.keys()
    assert all(torch.equal(exported[key], generator[key]) for key in generator)

    killed = vidgan_train(family, tmp_path / "resumed", overrides, kill_after=KILLED_AT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    checkpoints = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").glob("iteration_*"))
    assert checkpoints[-1] == f"iteration_{KILLED_AT:07d}" and not (tmp_path / "resumed" / "model").exists()
    resumed = vidgan_train(family, tmp_path / "resumed", overrides)
    assert resumed.returncode == 0, resumed.stderr
    again = weights(tmp_path / "resumed" / "checkpoints" / "iteration_0000004")
    assert again.keys() == expected.keys()
    differing = [key for key in expected if not torch.equal(again[key], expected[key])]
    assert not differing, f"{len(differing)} tensors differ after the resume, e.g. {differing[:3]}"
    assert losses(tmp_path / "straight") == losses(tmp_path / "resumed")


@pytest.mark.slow
def test_two_ray_train_workers_follow_one_process_through_a_phase_change(tmp_path):
    """PG2 (instance norm: the per-worker half batches normalise alike): stage I to stage II at
    iteration 2. The discriminator rests in stage I and stage I in stage II, bit-identically on
    one worker and on two, and both runs follow the same loss curve to the same weights.
    Age-cGAN's resting networks stay bit-identical on two workers through its encoder stage."""
    import ray

    from vidgan.train.distributed import train_on_ray

    config = load_config(ExperimentConfig, bundled_config("configs/models/unit_test/pose_guided.yaml"),
                         [*SCHEDULE, "train.checkpoint_every=1", "train.keep_checkpoints=4", "train.batch_size=4"])
    aging = load_config(ExperimentConfig, bundled_config("configs/models/unit_test/age_cgan.yaml"), SCHEDULE)
    run_experiment(config, tmp_path / "single")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        train_on_ray(config, tmp_path / "ray", workers=2)
        train_on_ray(aging, tmp_path / "aging", workers=2)
    finally:
        ray.shutdown()
    # Age-cGAN (batch norm: its curve is per-worker): the encoder rests in stage 1, G's synthesis and
    # D in the encoder stage, bit-identically on two workers
    start, middle, end = (weights(tmp_path / "aging" / "checkpoints" / f"iteration_{i:07d}") for i in (0, 2, 4))
    encoder = [key for key in start if key.startswith("model/generator.encoder.")]
    fixed = [key for key in start if key.startswith(("model/generator.", "model/discriminators.")) and key not in encoder]
    assert all(torch.equal(start[key], middle[key]) for key in encoder)
    assert all(torch.equal(middle[key], end[key]) for key in fixed)
    assert not all(torch.equal(middle[key], end[key]) for key in encoder)
    single, distributed = losses(tmp_path / "single"), losses(tmp_path / "ray")
    assert [m["iteration"] for m in distributed] == [1, 2, 3, 4]
    assert ["loss_d" in m for m in single] == ["loss_d" in m for m in distributed] == [False, False, True, True]
    for a, b in zip(single, distributed, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (a["iteration"], key)
    for run in ("single", "ray"):
        saved = {i: weights(tmp_path / run / "checkpoints" / f"iteration_{i:07d}") for i in (1, 2, 4)}
        discriminator = [key for key in saved[1] if key.startswith("model/discriminators.")]
        coarse = [key for key in saved[1] if key.startswith("model/generator.coarse.")]
        assert discriminator and coarse
        assert all(torch.equal(saved[1][key], saved[2][key]) for key in discriminator)  # D rests in stage I
        assert not all(torch.equal(saved[2][key], saved[4][key]) for key in discriminator)  # D learns in II
        assert all(torch.equal(saved[2][key], saved[4][key]) for key in coarse)  # stage I rests in stage II
    # Adam moves a weight by about lr whatever its gradient's size: where a gradient is float noise
    # (a bias before instance norm has none in exact arithmetic), summing in another order can flip
    # its sign. So: every weight within 2 lr a step, and all but a few within 1e-5.
    a, b = (weights(tmp_path / run / "checkpoints" / "iteration_0000004") for run in ("single", "ray"))
    assert a.keys() == b.keys()
    bound = 2 * max(config.train.lr_g, config.train.lr_d) * 4
    assert all(torch.allclose(a[key], b[key], atol=bound) for key in a)
    apart = sum(int(((a[key] - b[key]).abs() > 1e-5).sum()) for key in a)
    assert apart < 0.02 * sum(tensor.numel() for tensor in a.values())
