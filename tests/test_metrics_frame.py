"""Frame metrics: PSNR, SSIM and LPIPS (random weights saved locally; nothing downloaded)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidgan.data.synthetic import synthetic_frames
from vidgan.errors import MissingWeightsError
from vidgan.metrics import LPIPS, frames_to_tensor, psnr, psnr_frames, ssim, ssim_frames
from vidgan.metrics.lpips import NETS

#: Channels of the five lin layers in the lpips package's alex.pth / vgg.pth.
LIN_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.stack(list(synthetic_frames(4, 64, 64)))


def noisy(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


def test_identical_frames_have_infinite_psnr_and_unit_ssim(frames):
    assert np.all(np.isposinf(psnr_frames(frames, frames))) and psnr(frames, frames) == math.inf
    assert np.allclose(ssim_frames(frames, frames), 1.0, atol=1e-6) and ssim(frames, frames) == pytest.approx(1.0)


def test_psnr_of_a_constant_offset_is_analytic():
    real = np.full((2, 16, 16, 3), 100, np.uint8)
    fake = real + np.array([5, 5], np.uint8)[:, None, None, None]
    assert psnr_frames(real, fake) == pytest.approx([10 * np.log10(255**2 / 25)] * 2)


def test_one_identical_frame_makes_the_mean_psnr_infinite(frames):
    fake = frames.copy()
    fake[1:] = noisy(frames[1:], 5)
    values = psnr_frames(frames, fake)
    assert values[0] == math.inf and np.isfinite(values[1:]).all()
    assert psnr(frames, fake) == math.inf


def test_more_noise_lowers_psnr_and_ssim(frames):
    light, heavy = noisy(frames, 4), noisy(frames, 20)
    assert psnr(frames, light) > psnr(frames, heavy) > 10
    assert 1 > ssim(frames, light) > ssim(frames, heavy) > 0


def test_tensor_frames_in_minus_one_one_give_the_same_values(frames):
    fake = noisy(frames, 10)
    as_tensor = [torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1 for x in (frames, fake)]
    assert psnr(*as_tensor) == pytest.approx(psnr(frames, fake), rel=1e-5)
    assert ssim(*as_tensor) == pytest.approx(ssim(frames, fake), rel=1e-5)
    assert frames_to_tensor(frames[0]).shape == (1, 3, 64, 64)


def test_mismatched_or_wrong_frames_raise(frames):
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(frames, frames[:, :32])
    with pytest.raises(ValueError, match="uint8"):
        psnr(frames.astype(np.float32), frames)


def random_state(module: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """He-initialised random weights and zero biases for every entry of ``module``'s state dict."""
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(value.shape, generator=generator) * (2 / value[0].numel()) ** 0.5
        if value.ndim > 1 else torch.zeros(value.shape)
        for key, value in module.state_dict().items()
    }


def save_random_lpips_weights(folder, net: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision backbone with random weights (only its ``features`` entries, as LPIPS reads
    them) and random non-negative lin layers with the keys and shapes of the lpips package."""
    build, backbone_file, lin_file, _ = NETS[net]
    with torch.device("meta"):
        features = build(weights=None).features
    backbone = {f"features.{key}": value for key, value in random_state(features, seed).items()}
    torch.save(backbone, folder / backbone_file)
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(LIN_CHANNELS[net])}
    torch.save(lins, folder / lin_file)
    return backbone


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_is_zero_for_identical_frames_and_positive_for_different(tmp_path, frames, net):
    save_random_lpips_weights(tmp_path, net)
    metric = LPIPS(net, weights=tmp_path)
    frames = frames[:2, :48, :48]
    same = metric.frames(frames, frames)
    assert same.shape == (2,) and np.allclose(same, 0, atol=1e-7)
    light, heavy = metric.frames(frames, noisy(frames, 4)), metric.frames(frames, noisy(frames, 30))
    assert (light > 0).all() and (heavy > light).all()


def test_lpips_reads_the_features_of_a_whole_torchvision_state_dict(tmp_path):
    backbone = save_random_lpips_weights(tmp_path, "alex")
    whole = {**backbone, "classifier.1.weight": torch.zeros(2, 2), "classifier.1.bias": torch.zeros(2)}
    torch.save(whole, tmp_path / NETS["alex"][1])
    metric = LPIPS("alex", weights=tmp_path)
    assert torch.equal(metric.slices[0][0].weight, backbone["features.0.weight"])
    assert torch.equal(metric.slices[4][0].weight, backbone["features.10.weight"])


def test_lpips_without_weights_names_the_files_to_place(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"alexnet-owt-7be5be79\.pth") as error:
        LPIPS("alex", weights=tmp_path)
    assert str(tmp_path) in str(error.value) and "never downloads" in str(error.value)
    save_random_lpips_weights(tmp_path, "alex")
    (tmp_path / "alex.pth").unlink()
    with pytest.raises(MissingWeightsError, match=r"lin layers \(from the lpips pip package\).*place the file alex\.pth"):
        LPIPS("alex", weights=tmp_path)
