"""Age-cGAN (face aging): the three networks, age groups, the face/age datasets (UTKFace names,
CSV, dlib alignment of a real photo with its crop cache, synthetic faces), two-stage training
with export and bit-exact resume, identity-preserving latent optimisation (fallback and a
TorchScript identity network), aging of images and of a face track with temporal smoothing."""

from __future__ import annotations

import itertools
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from conftest import shared
from torch import nn

from vidgan.config import bundled_config, load_config
from vidgan.data import face_ages
from vidgan.data.face_ages import (
    FaceAgeSettings,
    load_face_ages,
    parse_utkface_name,
    read_age_csv,
    utkface_files,
)
from vidgan.data.synthetic_faces import synthetic_ages, synthetic_faces
from vidgan.errors import InputError, MissingWeightsError
from vidgan.models.age_cgan import FaceAger, face_region_mask, temporal_smoothing
from vidgan.nn.identity import IdentityLoss
from vidgan.train.experiment import ExperimentConfig, run_experiment
from vidgan.train.logger import read_metrics
from vidgan.train.recipes.age_cgan import face_age_dataset

ROOT = Path(__file__).resolve().parents[1]
UNIT = bundled_config("configs/models/unit_test/age_cgan.yaml")
TINY = {"crop_size": 32, "z_dim": 8, "g_channels": (32, 16, 8), "d_channels": (8, 16, 32), "e_channels": (8, 16, 32)}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(seed: int = 0, **overrides: object) -> FaceAger:
    torch.manual_seed(seed)
    return FaceAger(**{**TINY, **overrides})


def faces(count: int, seed: int = 0, ages: list[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic crops ``(N, 3, 32, 32)`` in [-1, 1] and their landmarks ``(N, 68, 2)``."""
    data = synthetic_faces(count, 32, 1.3, seed=seed, ages=synthetic_ages(count, seed) if ages is None else ages)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 127.5 - 1
    return images, torch.from_numpy(data.landmarks)


def test_network_shapes_and_validation():
    model = tiny_model()
    z, groups = torch.randn(3, 8), torch.tensor([0, 2, 5])
    image = model.generate(z, groups)
    assert image.shape == (3, 3, 32, 32) and image.abs().max() <= 1
    assert model.discriminators["image"](image, groups).shape == (3, 1, 1, 1)
    assert model.encode(image).shape == (3, 8) and model.encoder is model.generator.encoder
    assert model.config["crop_scale"] == 1.3 and model.num_groups == 6
    with pytest.raises(ValueError, match="4 \\* 2 \\*\\* len"):
        FaceAger(**{**TINY, "crop_size": 64})
    with pytest.raises(ValueError, match="increasing"):
        FaceAger(**TINY, age_groups=(0, 30, 20))


def test_age_groups_default_and_configured():
    model = tiny_model()
    expected = {0: 0, 18: 0, 18.9: 0, 19: 1, 29.5: 1, 30: 2, 45: 3, 59: 4, 60: 5, 101: 5}
    assert {age: model.age_group(age) for age in expected} == expected
    assert model.age_groups_of(torch.tensor([5.0, 70.0]), 2).tolist() == [0, 5]
    assert model.age_groups_of(40, 3).tolist() == [3, 3, 3]
    split = tiny_model(age_groups=[0, 40])
    assert (split.age_group(39), split.age_group(40), split.num_groups) == (0, 1, 2)
    assert split.generate(torch.randn(1, 8), torch.tensor([1])).shape == (1, 3, 32, 32)


def test_utkface_names_and_skipped_files(tmp_path):
    assert parse_utkface_name("35_0_0_20170117.jpg") == 35.0
    assert parse_utkface_name("1_1_4_20161223.jpg.chip.jpg") == 1.0
    for bad in ("39_1_20170116174525125.jpg", "face.jpg", "x_0_0_1.jpg", "500_0_0_1.jpg", "35_2_0_1.jpg"):
        assert parse_utkface_name(bad) is None, bad
    for name in ("35_0_0_20170117.jpg", "7_1_2_20170101.png", "39_1_20170116.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    paths, ages, skipped = utkface_files(tmp_path)
    assert [p.name for p in paths] == ["35_0_0_20170117.jpg", "7_1_2_20170101.png"] and ages == [35.0, 7.0]
    assert [Path(p).name for p, _ in skipped] == ["39_1_20170116.jpg"] and "UTKFace" in skipped[0][1]


def test_age_csv_with_and_without_header(tmp_path):
    (tmp_path / "ages.csv").write_text("path,age\na.jpg,31\n\nsub/b.png, 62.5\n")
    names, ages = read_age_csv(tmp_path / "ages.csv")
    assert names == [str(tmp_path / "a.jpg"), str(tmp_path / "sub" / "b.png")] and ages == [31.0, 62.5]
    (tmp_path / "plain.csv").write_text("a.jpg,31\n")
    assert read_age_csv(tmp_path / "plain.csv")[1] == [31.0]
    (tmp_path / "bad.csv").write_text("path,age\na.jpg,31\nb.jpg,old\n")
    with pytest.raises(InputError, match=r"bad\.csv: line 3: age 'old'"):
        read_age_csv(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text("a.jpg\n")
    with pytest.raises(InputError, match="line 1: expected path,age"):
        read_age_csv(tmp_path / "short.csv")


def test_a_real_photo_is_aligned_once_and_cached(tmp_path, monkeypatch):
    shutil.copy(shared("faces/single_face.jpg"), tmp_path / "35_0_0_20170117.jpg")
    (tmp_path / "35_0_20170117.jpg").write_bytes(b"")  # malformed name: skipped and reported
    settings = FaceAgeSettings(format="utkface", root=str(tmp_path))
    with pytest.warns(UserWarning, match="skipped 1 image"):
        data = load_face_ages(settings, 64, 1.3)
    assert data.crops.images.shape == (1, 64, 64, 3) and data.ages.tolist() == [35.0]
    points = data.crops.landmarks[0]
    assert points.shape == (68, 2) and (points >= 0).all() and (points < 64).all()
    assert len(list((tmp_path / ".vidgan_cache").glob("age_faces_64px_x1.3_dlib_*.npz"))) == 1

    def no_alignment(*args, **kwargs):
        raise AssertionError("aligned again despite the cache")

    monkeypatch.setattr(face_ages, "align_images", no_alignment)
    with pytest.warns(UserWarning, match="skipped 1 image"):
        cached = load_face_ages(settings, 64, 1.3)
    assert np.array_equal(cached.crops.images, data.crops.images) and cached.ages.tolist() == [35.0]
    taken = load_face_ages(FaceAgeSettings(format="utkface", root=str(tmp_path), aligned=True), 32, 1.3)
    assert taken.crops.images.shape == (1, 32, 32, 3) and np.isnan(taken.crops.landmarks).all()
    (tmp_path / "not_a_folder").write_text("")  # an unwritable cache: a warning, and the crops all the same
    with pytest.warns(UserWarning, match="crop cache not written"):
        uncached = face_ages.aligned_faces([tmp_path / "35_0_0_20170117.jpg"], 32, 1.3, aligned=True,
                                           cache=tmp_path / "not_a_folder")
    assert np.array_equal(uncached[0].images, taken.crops.images)


def test_synthetic_faces_dataset_items():
    model = tiny_model()
    dataset, collate = face_age_dataset(FaceAgeSettings(format="synthetic", count=6, seed=3), model)
    assert len(dataset) == 6 and collate is None
    item = dataset[2]
    assert item["image"].shape == (3, 32, 32) and item["image"].min() >= -1 and item["image"].max() <= 1
    assert item["group"].dtype == torch.int64 and 0 <= item["group"] < 6
    again, _ = face_age_dataset(FaceAgeSettings(format="synthetic", count=6, seed=3), model)
    assert torch.equal(again[2]["image"], item["image"])
    drawn = synthetic_faces(12, 64, 1.3, ages=[8] * 6 + [75] * 6, seed=1).images
    hair = drawn[:, 13:17, 29:35].reshape(12, -1).mean(axis=1)  # above the forehead
    assert hair[6:].mean() > hair[:6].mean() + 40  # grey hair with age
    mask = face_region_mask(torch.from_numpy(synthetic_faces(1, 64, 1.3, seed=1).landmarks), 64)
    assert mask.shape == (1, 1, 64, 64) and 0.05 < mask.mean() < 0.5
    assert face_region_mask(torch.full((1, 68, 2), float("nan")), 64).sum() == 0


def unit_config(*overrides: str) -> ExperimentConfig:
    return load_config(ExperimentConfig, UNIT, list(overrides))


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(folder / "model" / "model.safetensors"))


def test_two_stage_training_rests_each_network_outside_its_stage_and_exports_the_ema(tmp_path):
    """Resume is the family contract (tests/test_family_contract.py)."""
    straight = run_experiment(unit_config(), tmp_path / "straight")
    assert straight.iterations == 4
    metrics = read_metrics(tmp_path / "straight")
    assert ["loss_g/gan" in m for m in metrics] == [True, True, False, False]
    assert ["loss_g/encoder" in m and "loss_g/reconstruction" in m for m in metrics] == [False, False, True, True]
    assert ["loss_d/image" in m for m in metrics] == [True, True, False, False]  # D rests in stage 2
    checkpoints = tmp_path / "straight" / "checkpoints"
    start, stage_two, end = (weights(checkpoints / f"iteration_000000{i}") for i in (0, 2, 4))
    encoder = [k for k in start if k.startswith("generator.encoder.")]
    synthesis = [k for k in start if k.startswith("generator.") and k not in encoder]
    discriminator = [k for k in start if k.startswith("discriminators.")]
    assert all(torch.equal(start[k], stage_two[k]) for k in encoder)  # E rests in stage 1
    assert not all(torch.equal(start[k], stage_two[k]) for k in synthesis)
    assert all(torch.equal(stage_two[k], end[k]) for k in synthesis + discriminator)  # G and D fixed in stage 2
    assert not all(torch.equal(stage_two[k], end[k]) for k in encoder)
    assert (tmp_path / "straight" / "samples" / "iteration_0000004.png").is_file()

    model = FaceAger.from_pretrained(tmp_path / "straight" / "model").eval()
    ema = FaceAger(**model.config).eval()
    ema.generator.load_state_dict(safetensors.torch.load_file(str(checkpoints / "iteration_0000004" / "ema.safetensors")))
    z, groups = torch.randn(2, 8), torch.tensor([1, 4])
    with torch.no_grad():
        exported = model.generate(z, groups)
        assert torch.equal(exported, ema.generate(z, groups))  # the export holds the EMA generator
        model.save_pretrained(tmp_path / "again")
        assert torch.equal(FaceAger.from_pretrained(tmp_path / "again").eval().generate(z, groups), exported)


def test_fallback_identity_preservation_lowers_its_objective_and_warns():
    model = tiny_model()
    crops, landmarks = faces(2, seed=5)
    groups = torch.tensor([1, 3])
    with torch.no_grad():
        z = model.encode(crops)
    objectives = []
    for steps in (0, 3, 10):
        with pytest.warns(UserWarning, match="fallback.*identity="):
            refined = model.preserve_identity(crops, z, groups, landmarks, steps=steps, lr=0.1)
        assert model.training  # the optimisation ran in eval mode and left the mode as it was
        with torch.no_grad():
            images = model.eval().generate(refined, groups)
            objectives.append(model.train().identity_objective(images, crops, landmarks))
    assert all(bool((later < earlier).all()) for earlier, later in itertools.pairwise(objectives))


class TinyEmbedding(nn.Module):
    """A stand-in face-recognition network: images -> 16-d embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 5, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))


def test_a_torchscript_identity_network_drives_the_optimisation(tmp_path):
    torch.manual_seed(1)
    torch.jit.save(torch.jit.script(TinyEmbedding()), str(tmp_path / "identity.pt"))
    identity = IdentityLoss(tmp_path / "identity.pt", input_size=32)
    model = tiny_model()
    crops, _ = faces(2, seed=6)
    groups = torch.tensor([0, 5])
    with torch.no_grad():
        z = model.encode(crops)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*fallback")  # the identity network is used, not the fallback
        refined = model.preserve_identity(crops, z, groups, steps=8, lr=0.1, identity=identity)
        aged = model.age(crops, 70, steps=2, identity=tmp_path / "identity.pt")
    model.eval()
    with torch.no_grad():
        before = model.identity_objective(model.generate(z, groups), crops, identity=identity)
        after = model.identity_objective(model.generate(refined, groups), crops, identity=identity)
    assert bool((after < before).all()) and aged.shape == (2, 3, 32, 32)
    with pytest.raises(MissingWeightsError, match="identity"):
        model.age(crops, 70, steps=1, identity=tmp_path / "missing.pt")


def test_aging_targets_and_temporal_smoothing_of_a_track():
    model = tiny_model()
    crops, landmarks = faces(2, seed=7, ages=[25, 25])
    with pytest.warns(UserWarning, match="fallback"):
        young = model.age(crops, 10, landmarks, source_age=25, steps=2)
    with pytest.warns(UserWarning, match="fallback"):
        old = model.age(crops, [70, 70], landmarks, steps=2)  # source group estimated
    assert young.shape == old.shape == (2, 3, 32, 32) and not torch.allclose(young, old)

    values = torch.randn(9, 4)
    assert torch.equal(temporal_smoothing(values, 0.0), values)
    assert torch.allclose(temporal_smoothing(torch.ones(9, 4), 2.0), torch.ones(9, 4))
    generator = torch.Generator().manual_seed(0)
    track = (crops[:1] + 0.3 * torch.randn(8, 3, 32, 32, generator=generator)).clamp(-1, 1)  # a jittery track
    points = landmarks[:1].expand(8, -1, -1)
    jitter = {}
    for sigma in (0.0, 3.0):
        with pytest.warns(UserWarning, match="fallback"):
            frames = model.age_video(track, 65, points, steps=2, temporal_sigma=sigma)
        assert frames.shape == (8, 3, 32, 32)
        jitter[sigma] = (frames[1:] - frames[:-1]).abs().mean().item()
    assert jitter[3.0] < 0.7 * jitter[0.0]
