"""MoCoGAN: shapes of its networks, content/motion control, losses, training a tiny config
(save, from_pretrained, bit-exact resume), ``vidgan sample``; the shape-motion proof."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import bench_script

from vidgan.cli import main
from vidgan.config import bundled_config, load_config
from vidgan.io import probe
from vidgan.models.mocogan import MoCoGAN
from vidgan.models.video_gan import load_video_model
from vidgan.train.experiment import ExperimentConfig, build_trainer, run_experiment
from vidgan.train.logger import read_metrics

ROOT = Path(__file__).resolve().parents[1]
UNIT = bundled_config("configs/models/unit_test/mocogan.yaml")


def unit_config(*overrides: str) -> ExperimentConfig:
    return load_config(ExperimentConfig, UNIT, overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mocogan") / "run"
    result = run_experiment(unit_config(), run)
    assert result.iterations == 2 and result.rollbacks == 0
    return run


def test_paper_defaults_build_the_papers_networks():
    model = MoCoGAN(num_classes=2)
    assert (model.size, model.video_length, model.generator.dim_z_content, model.generator.dim_z_motion) == (64, 16, 50, 10)
    assert model.generator.image[0][0].in_channels == 50 + 2 + 10  # [content, one-hot, motion]
    images = model.discriminators["image"](torch.zeros(2, 3, 64, 64))
    logits, categories = model.discriminators["video"](torch.zeros(2, 16, 3, 64, 64))
    assert images.shape == (2, 16) and logits.shape == (2,) and categories.shape == (2, 2)  # 4x4 patches
    with pytest.raises(ValueError, match="video_length must be >= 13"):
        MoCoGAN(video_length=8)


def test_content_and_motion_control_and_longer_videos():
    torch.manual_seed(0)
    model = MoCoGAN(size=32, video_length=12, dim_z_content=8, dim_z_motion=4, num_classes=2, ngf=8, ndf=8)
    generator = torch.Generator().manual_seed(1)
    content, motion = model.sample_content(1, generator), model.sample_motion(1, 30, generator)
    assert motion.shape == (1, 30, 4)
    a = model.sample(3, content=content, motion=motion, category=1)
    assert a.shape == (3, 30, 3, 32, 32) and a.min() >= -1 and a.max() <= 1
    assert torch.allclose(a[0], a[2]) and torch.allclose(a, model.sample(3, content=content, motion=motion, category=1))
    assert not torch.allclose(a, model.sample(3, content=content, motion=motion, category=0))
    same_content = model.fixed_content(2, 5, category=0, generator=generator)
    same_motion = model.fixed_motion(2, 5, category=0, generator=generator)
    assert same_content.shape == same_motion.shape == (2, 5, 3, 32, 32)
    assert not torch.allclose(same_content[0], same_content[1]) and not torch.allclose(same_motion[0], same_motion[1])
    assert model.training  # sampling used eval mode and put the mode back
    with pytest.raises(ValueError, match="category must be in 0..1"):
        model.sample(2, category=2)
    with pytest.raises(ValueError, match="no classes"):
        MoCoGAN(size=32, video_length=12, ngf=4, ndf=4).sample(1, category=0)


def test_losses_include_the_category_terms(tmp_path):
    trainer = build_trainer(unit_config(), tmp_path)
    batch = next(trainer._batches())
    d_terms, g_terms = trainer.dis_losses(batch), trainer.gen_losses(batch)
    assert set(d_terms) == {"image_real", "image_fake", "video_real", "video_fake", "category"}
    assert set(g_terms) == {"image", "video", "infogan"}
    assert all(torch.isfinite(t) and t.dim() == 0 for t in [*d_terms.values(), *g_terms.values()])
    assert trainer.fake_images(trainer.model.generator).shape == (4, 3, 32, 32)


def test_training_writes_a_model_that_reloads(trained):
    assert {"loss_d/category", "loss_g/infogan"} <= set(read_metrics(trained)[-1])
    assert (trained / "samples" / "iteration_0000002.mp4").is_file()
    model = load_video_model(trained)
    assert isinstance(model, MoCoGAN) and model.num_classes == 2
    again = MoCoGAN.from_pretrained(trained / "model")
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(model.sample(2, 7, generator=g1), again.sample(2, 7, generator=g2))


def test_vidgan_sample_writes_an_mp4_grid(trained, tmp_path, capsys):
    out = tmp_path / "grid.mp4"
    code = main(["sample", "--model", str(trained), "--n", "4", "--length", "20", "--out", str(out),
                 "--category", "1", "--fix", "content"])
    assert code == 0 and str(out) in capsys.readouterr().out
    info = probe(out)
    assert info.frames == 20 and info.size == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)  # 2x2 grid, 2 px padding
    assert main(["sample", "--model", str(trained), "--out", str(out), "--category", "5"]) == 2
    assert main(["sample", "--model", str(tmp_path), "--out", str(out)]) == 2


@pytest.mark.proof
def test_proof_mocogan_on_shapes_keeps_one_shape_moving_its_class_way(tmp_path):
    """The issue's proof: after the stated CPU budget, 200 sampled 64x64x16 videos (100 per class
    with --category) hold one connected shape of constant colour and move their class's way."""
    proof = bench_script("video_gan_proof")
    figures = proof.prove("mocogan", ROOT / "runs" / "proof")
    print(proof.describe(figures))
    assert figures["generated"]["constant_shape"] >= 0.9
    assert figures["generated"]["direction"] >= 0.9
