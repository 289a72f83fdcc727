"""TP-GAN (face frontalization): the generator's scales and local patches, patch extraction and
paste-back, the symmetry loss, the synthetic yaw rotation, the Multi-PIE folder adapter on real
photos, and training with export, reload, bit-exact resume and the pluggable identity loss."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import shared
from torch import nn

from vidgan.config import bundled_config, load_config
from vidgan.data.multiview import (
    MultiviewPairs,
    MultiviewSettings,
    multiview_dataset,
    rotate_face,
)
from vidgan.data.synthetic_faces import synthetic_faces
from vidgan.errors import MissingWeightsError
from vidgan.io import read_image, write_image
from vidgan.models.tpgan import (
    Frontalizer,
    extract_patches,
    part_centres,
    paste_patches,
    template_centres,
)
from vidgan.train.experiment import (
    ExperimentConfig,
    build_model,
    build_trainer,
    run_experiment,
)
from vidgan.train.logger import read_metrics
from vidgan.train.recipes.tpgan import symmetry_loss

ROOT = Path(__file__).resolve().parents[1]
UNIT = bundled_config("configs/models/unit_test/tpgan.yaml")
FACE = "faces/single_face.jpg"
TINY = {"channels": (8, 8, 16, 16, 32), "fc_dim": 16, "fc_channels": 8, "local_channels": (8, 16),
        "local_features": 8, "d_channels": 8, "d_layers": 2}


pytestmark = pytest.mark.usefixtures("one_thread")


def unit_config(*overrides: str) -> ExperimentConfig:
    return load_config(ExperimentConfig, UNIT, list(overrides))


def test_generator_outputs_three_scales_and_the_local_patches():
    torch.manual_seed(0)
    model = Frontalizer(crop_size=32, noise_dim=4, **TINY)
    faces = synthetic_faces(2, 32, 1.3)
    crops = torch.from_numpy(faces.images).permute(0, 3, 1, 2).float() / 127.5 - 1
    landmarks = torch.from_numpy(faces.landmarks)
    with torch.no_grad():
        output = model(crops, landmarks, torch.randn(2, 4))
    assert output.image.shape == output.local.shape == (2, 3, 32, 32)
    assert output.half.shape == (2, 3, 16, 16) and output.quarter.shape == (2, 3, 8, 8)
    assert model.patch_sizes == {"left_eye": (12, 12), "right_eye": (12, 12), "nose": (8, 12), "mouth": (8, 12)}
    assert [tuple(p.shape[-2:]) for p in output.patches] == list(model.patch_sizes.values())
    assert all(float(t.abs().max()) <= 1 for t in output[:4])
    frontal = model.frontalize(crops, landmarks)
    assert frontal.shape == (2, 3, 32, 32) and model.generator.training  # eval only inside
    assert torch.equal(frontal, model.frontalize(crops, landmarks))  # zero noise: deterministic
    paper = Frontalizer(crop_size=128, crop_scale=1.0, noise_dim=0, **{**TINY, "local_channels": (8, 16, 32)})
    assert paper.patch_sizes == {"left_eye": (40, 40), "right_eye": (40, 40), "nose": (32, 40), "mouth": (32, 48)}
    with pytest.raises(ValueError, match="multiple of 16"):
        Frontalizer(crop_size=40, **TINY)
    with pytest.raises(ValueError, match="multiples of 4"):
        Frontalizer(crop_size=32, eye_patch=(10, 12), **TINY)


def test_patches_are_centred_on_the_landmarks_and_pasted_back():
    image = torch.zeros(1, 1, 64, 64)
    image[0, 0, 25, 20] = 1.0  # a bright dot at x=20, y=25
    landmarks = torch.zeros(1, 68, 2)
    landmarks[0, 36:42] = torch.tensor([[18.0, 25], [22, 25], [20, 24], [20, 26], [19, 25], [21, 25]])  # mean (20, 25)
    centre = part_centres(landmarks)[:, 0]
    assert centre.tolist() == [[20.0, 25.0]]
    patch = extract_patches(image, centre, (13, 11))
    assert patch.shape == (1, 1, 13, 11)  # the dot at the patch's centre pixel (row 6, column 5)
    assert float(patch[0, 0, 6, 5]) == pytest.approx(1.0, abs=1e-5)
    assert float(patch.sum()) == pytest.approx(1.0, abs=1e-5)
    canvas = paste_patches(patch, centre, (64, 64))
    assert torch.allclose(canvas, image, atol=1e-5)  # back at x=20, y=25
    assert float(paste_patches(patch, centre, (64, 64), fill=-1.0)[0, 0, 0, 0]) == pytest.approx(-1.0)
    even = extract_patches(image, centre, (12, 12))  # the centre falls between pixels 5 and 6
    ys, xs = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    weights = even[0, 0]
    assert float((weights * xs).sum() / weights.sum()) == pytest.approx(5.5)
    assert float((weights * ys).sum() / weights.sum()) == pytest.approx(5.5)
    template = template_centres(112)
    assert template[0].tolist() == pytest.approx([38.2946, 51.6963], abs=1e-4)  # ArcFace's left eye
    assert template[3].tolist() == pytest.approx([(41.5493 + 70.7299) / 2, (92.3655 + 92.2041) / 2], abs=1e-4)


def test_symmetry_loss_is_zero_only_for_mirror_symmetric_images():
    torch.manual_seed(0)
    noise = torch.rand(2, 3, 16, 16)
    assert symmetry_loss(noise + noise.flip(-1)) == 0
    assert symmetry_loss(noise) > 0.1


def test_synthetic_rotation_is_exact_at_zero_and_turns_the_face_with_yaw():
    faces = synthetic_faces(3, 64, 1.3, seed=1)
    image, points = faces.images[0], faces.landmarks[0]
    same, same_points = rotate_face(image, points, 0.0)
    assert np.array_equal(same, image) and np.allclose(same_points, points, atol=1e-4)
    turned, moved = rotate_face(image, points, 30.0)
    assert np.array_equal(moved[:, 1], points[:, 1])  # a yaw keeps heights
    assert moved[30, 0] > points[30, 0] + 3  # the nose tip moves to larger x
    assert moved[16, 0] - moved[30, 0] < points[16, 0] - points[30, 0]  # the far side narrows
    assert moved[30, 0] - moved[0, 0] > points[30, 0] - points[0, 0]  # the near side widens
    eye, moved_eye = points[36:42].mean(0), moved[36:42].mean(0)  # the dark iris moves with its landmarks
    iris, moved_iris = image[round(eye[1]), round(eye[0])], turned[round(moved_eye[1]), round(moved_eye[0])]
    assert abs(float(moved_iris.mean()) - float(iris.mean())) < 40
    assert not np.array_equal(turned, image)
    mirrored, _ = rotate_face(image, points, -30.0)
    assert rotate_face(image, points, -30.0)[1][30, 0] < points[30, 0] and not np.array_equal(mirrored, turned)


def test_synthetic_dataset_items_depend_only_on_the_index():
    settings = MultiviewSettings(format="synthetic", count=3, views=2, max_yaw=30.0)
    dataset = multiview_dataset(settings, 32, 1.3)
    assert len(dataset) == 6 and np.abs(dataset.yaws).max() <= 30
    item = dataset[3]
    assert set(item) == {"profile", "profile_landmarks", "frontal", "frontal_landmarks"}
    assert item["profile"].shape == item["frontal"].shape == (3, 32, 32)
    assert item["profile_landmarks"].shape == item["frontal_landmarks"].shape == (68, 2)
    assert -1 <= float(item["profile"].min()) and float(item["profile"].max()) <= 1
    again = multiview_dataset(settings, 32, 1.3)[3]
    assert all(torch.equal(item[k], again[k]) for k in item)
    assert torch.equal(dataset[2]["frontal"], item["frontal"])  # views 0 and 1 of face 1


@pytest.fixture(scope="module")
def multipie(tmp_path_factory) -> Path:
    """A Multi-PIE-style folder from one real photo: two frontal frames, two turned (mirrored)
    views, an image without a face, an identity without a frontal image and a camera folder not
    in the pose table (ignored)."""
    root = tmp_path_factory.mktemp("multipie")
    face = read_image(shared(FACE))
    small = cv2.resize(face, (286, 281), interpolation=cv2.INTER_AREA)  # half size: faster detection
    darker = np.clip(small * 0.8, 0, 255).astype(np.uint8)
    for relative, image in (("001/051/01.jpg", small), ("001/051/02.jpg", darker),
                            ("001/190/02.jpg", small[:, ::-1]), ("001/050/07.jpg", small[:, ::-1]),
                            ("001/041/01.png", np.full((120, 120, 3), 90, np.uint8)),
                            ("002/140/01.jpg", small), ("001/999/01.jpg", small)):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        write_image(root / relative, np.ascontiguousarray(image))
    return root


def test_multipie_folder_pairs_profiles_with_the_frontal_of_their_frame(multipie, tmp_path):
    dataset = MultiviewPairs.from_multipie(multipie, 32, 1.3, cache=tmp_path / "cache")
    names = [Path(s).relative_to(multipie).as_posix() for s in dataset.crops.sources]
    pairs = {names[p]: names[f] for p, f in dataset.pairs}
    assert pairs == {"001/190/02.jpg": "001/051/02.jpg", "001/050/07.jpg": "001/051/01.jpg"}
    assert sorted(dataset.yaws.tolist()) == [15.0, 45.0]
    reasons = {Path(path).relative_to(multipie).as_posix(): reason for path, reason in dataset.skipped}
    assert reasons == {"001/041/01.png": "no face found", "002/140/01.jpg": "no frontal (051) image of 002"}
    item = dataset[0]
    assert item["profile"].shape == (3, 32, 32) and item["frontal_landmarks"].shape == (68, 2)
    profile, frontal = dataset.pairs[0]
    for key, row in (("profile", profile), ("frontal", frontal)):
        assert torch.equal(item[key], torch.from_numpy(dataset.crops.images[row]).permute(2, 0, 1).float() / 127.5 - 1)
    # a mirrored photo aligns to about the mirror image of the frontal crop
    assert float((item["profile"] - item["frontal"].flip(-1)).abs().mean()) < 0.2

    def no_detector(image):
        raise AssertionError("the cache should have answered")

    cached = MultiviewPairs.from_multipie(multipie, 32, 1.3, cache=tmp_path / "cache", keypointer=no_detector)
    assert np.array_equal(cached.pairs, dataset.pairs) and np.array_equal(cached.crops.images, dataset.crops.images)
    assert cached.skipped == dataset.skipped
    narrow = MultiviewPairs.from_multipie(multipie, 32, 1.3, cache=tmp_path / "cache", max_yaw=30,
                                          keypointer=no_detector)
    assert len(narrow) == 1 and narrow.yaws.tolist() == [15.0]  # camera 190 (45 degrees) left out


def test_photos_are_rotated_into_pairs(tmp_path):
    small = cv2.resize(read_image(shared(FACE)), (286, 281), interpolation=cv2.INTER_AREA)
    write_image(tmp_path / "face.jpg", small)
    write_image(tmp_path / "wall.png", np.full((80, 80, 3), 128, np.uint8))
    dataset = multiview_dataset(MultiviewSettings(format="images", root=str(tmp_path), views=3), 32, 1.3)
    assert len(dataset) == 3 and [Path(p).name for p, _ in dataset.skipped] == ["wall.png"]


def test_training_logs_every_term_and_exports_the_ema_frontalizer(tmp_path):
    trainer = build_trainer(unit_config(), tmp_path / "straight")
    result = trainer.train()
    assert result.iterations == 3
    metrics = read_metrics(tmp_path / "straight")
    keys = {"loss_d/image", "loss_g/pixel", "loss_g/local", "loss_g/symmetry", "loss_g/adversarial", "loss_g/tv"}
    assert len(metrics) == 3 and all(keys <= set(m) for m in metrics) and "loss_g/identity" not in metrics[0]
    assert all(np.isfinite(m[k]) for m in metrics for k in keys)
    assert "identity loss off" in (tmp_path / "straight" / "train.log").read_text()
    assert (tmp_path / "straight" / "samples" / "iteration_0000003.png").is_file()

    model = Frontalizer.from_pretrained(tmp_path / "straight" / "model")
    assert model.crop_size == 32 and model.crop_scale == 1.3
    item = trainer.dataset[0]
    crops, landmarks = item["profile"][None], item["profile_landmarks"][None]
    with torch.no_grad():
        exported = trainer.generator(crops, landmarks).image  # the EMA generator, in eval mode
    assert torch.equal(model.frontalize(crops, landmarks), exported)
    model.save_pretrained(tmp_path / "again")
    assert torch.equal(Frontalizer.from_pretrained(tmp_path / "again").frontalize(crops, landmarks), exported)


class TinyEmbedding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))


def test_identity_loss_from_a_torchscript_network(tmp_path):
    torch.jit.save(torch.jit.script(TinyEmbedding()), str(tmp_path / "id.pt"))
    config = unit_config(f"losses.identity_weights={tmp_path / 'id.pt'}", "losses.identity_size=16",
                         "train.iterations=1")
    run_experiment(config, tmp_path / "run")
    metrics = read_metrics(tmp_path / "run")
    log = tmp_path / "run" / "train.log"
    assert metrics[0]["loss_g/identity"] > 0 and not (log.is_file() and "identity loss off" in log.read_text())


def test_a_missing_identity_network_is_a_clear_error(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"nothing\.pt"):
        build_trainer(unit_config(f"losses.identity_weights={tmp_path / 'nothing.pt'}"), tmp_path / "missing")


@pytest.mark.parametrize("preset", ["tpgan_cpu_small.yaml", "tpgan_gpu_128.yaml"])
def test_presets_build_their_model_and_settings(preset):
    from vidgan.config import from_dict
    from vidgan.train.recipes.tpgan import FAMILY, TPGANLosses

    config = load_config(ExperimentConfig, bundled_config(f"configs/models/{preset}"))
    model = build_model(config)
    assert isinstance(model, Frontalizer) and model.crop_size in (64, 128)
    settings = from_dict(MultiviewSettings, config.data, prefix="data.")
    assert settings.format in ("layout", "multipie") and FAMILY.data is MultiviewSettings
    assert from_dict(TPGANLosses, config.losses, prefix="losses.").symmetry == 0.3

