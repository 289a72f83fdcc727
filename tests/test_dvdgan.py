"""DVD-GAN: built-in spectral norm, the k-frame spatial and the pooled temporal discriminators,
the hinge losses with G's loss -D(G(z)), training a tiny config (save, from_pretrained, resume),
``vidgan sample``; the shape-motion proof at a smaller budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import bench_script
from torch import nn
from torch.nn.utils import parametrize

from vidgan.cli import main
from vidgan.config import bundled_config, load_config
from vidgan.io import probe
from vidgan.models.dvdgan import DVDGAN
from vidgan.models.video_gan import load_video_model
from vidgan.train.experiment import ExperimentConfig, build_trainer, run_experiment

ROOT = Path(__file__).resolve().parents[1]
UNIT = bundled_config("configs/models/unit_test/dvdgan.yaml")


def unit_config(*overrides: str) -> ExperimentConfig:
    return load_config(ExperimentConfig, UNIT, overrides)


def tiny(**kwargs) -> DVDGAN:
    settings = {"size": 32, "video_length": 8, "num_classes": 2, "dim_z": 16, "ch": 4, "attention_resolution": 16,
                "spatial_frames": 4, **kwargs}
    return DVDGAN(**settings)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("dvdgan") / "run"
    assert run_experiment(unit_config(), run).iterations == 2
    return run


def test_spectral_norm_is_built_into_both_networks():
    model = tiny()
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding))]
    assert len(weighted) > 40 and all(parametrize.is_parametrized(m, "weight") for m in weighted)
    assert any(isinstance(m, nn.Conv3d) for m in model.discriminators["temporal"].modules())
    assert not any(isinstance(m, nn.Conv3d) for m in model.discriminators["spatial"].modules())


def test_spatial_scores_sum_over_frames_and_temporal_sees_pooled_clips():
    torch.manual_seed(0)
    model = tiny().eval()  # eval: spectral norm without another power iteration
    spatial, temporal = model.discriminators["spatial"], model.discriminators["temporal"]
    frames, category = torch.randn(2, 4, 3, 32, 32), torch.tensor([0, 1])
    per_frame = torch.stack([spatial(frames[:, i : i + 1], category) for i in range(4)], dim=1)
    assert torch.allclose(spatial(frames, category), per_frame.sum(1), atol=1e-5)
    clip = torch.randn(2, 8, 3, 32, 32)
    blocky = clip[..., ::2, ::2].repeat_interleave(2, -1).repeat_interleave(2, -2)
    pooled = torch.nn.functional.avg_pool3d(blocky.transpose(1, 2), (1, 2, 2)).transpose(1, 2)
    assert torch.allclose(pooled, clip[..., ::2, ::2])  # what D_T sees of a 2x2-blocky clip
    assert temporal(clip, category).shape == (2,)
    assert not torch.allclose(temporal(clip, category), temporal(clip, 1 - category))  # projection on the class


def test_generator_unrolls_any_length_and_takes_classes():
    torch.manual_seed(0)
    model = tiny()
    videos = model.sample(3, 20, category=1, generator=torch.Generator().manual_seed(0))
    assert videos.shape == (3, 20, 3, 32, 32) and videos.min() >= -1 and videos.max() <= 1
    z = torch.randn(1, 16)
    assert not torch.allclose(model.sample(1, z=z, category=0), model.sample(1, z=z, category=1))
    assert torch.equal(model.sample(1, z=z, category=0), model.sample(1, z=z, category=0))
    with pytest.raises(ValueError, match="multiple of 4"):
        tiny(video_length=6)


def test_generator_loss_is_minus_d_of_g_of_z(tmp_path):
    trainer = build_trainer(unit_config(), tmp_path)
    batch = next(trainer._batches())
    d_terms = trainer.dis_losses(batch)
    assert set(d_terms) == {"spatial_real", "spatial_fake", "temporal_real", "temporal_fake"}
    assert all(t >= 0 for t in d_terms.values())  # hinge terms
    model = trainer.model.eval()  # same spectral norm in both passes
    state = trainer.noise_generator.get_state()
    g_terms = trainer.gen_losses(batch)
    trainer.noise_generator.set_state(state)
    fake, category = trainer.fake_videos(model.generator, 8)
    frames = trainer.spatial_frames(fake)
    assert len({tuple(row) for row in frames.flatten(2).sum(2).tolist()}) == 4  # k distinct frames per clip
    d_s = model.discriminators["spatial"](frames, category)
    d_t = model.discriminators["temporal"](fake, category)
    assert torch.allclose(g_terms["spatial"], -d_s.mean(), atol=1e-5)
    assert torch.allclose(g_terms["temporal"], -d_t.mean(), atol=1e-5)


def test_training_writes_a_model_that_reloads(trained):
    model = load_video_model(trained)
    assert isinstance(model, DVDGAN) and model.num_classes == 2 and model.spatial_frames == 4
    assert (trained / "samples" / "iteration_0000002.mp4").is_file()
    again = DVDGAN.from_pretrained(trained / "model")
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(model.sample(2, generator=g1), again.sample(2, generator=g2))


def test_vidgan_sample_for_dvdgan(trained, tmp_path):
    out = tmp_path / "grid.mp4"
    assert main(["sample", "--model", str(trained / "model"), "--n", "2", "--length", "12", "--out", str(out),
                 "--category", "0"]) == 0
    assert probe(out).frames == 12
    assert main(["sample", "--model", str(trained), "--out", str(out), "--fix", "motion"]) == 2


@pytest.mark.proof
def test_proof_dvdgan_on_shapes_at_a_smaller_budget():
    """DVD-GAN on the same data with the same tracker, at a smaller CPU budget than MoCoGAN's."""
    proof = bench_script("video_gan_proof")
    figures = proof.prove("dvdgan", ROOT / "runs" / "proof")
    print(proof.describe(figures))
    assert figures["generated"]["constant_shape"] >= 0.9
    assert figures["generated"]["direction"] >= 0.9
