"""``evaluate`` and ``vidgan eval`` end to end on small generated videos and image folders."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vidgan.cli import main
from vidgan.data import write_synthetic_video
from vidgan.data.synthetic import synthetic_frames
from vidgan.io import VideoReader, write_image_folder
from vidgan.metrics import evaluate, flicker, psnr, save_metrics, ssim, warping_error

ALL = "psnr,ssim,warp,flicker,fid,kid,is,fvd"


def add_noise(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A 32-frame 64x64 video, and a noisier copy of its frames as an image folder."""
    folder = tmp_path_factory.mktemp("eval")
    real = write_synthetic_video(folder / "real.mp4", frames=32, size=(64, 64), audio=False)
    fake = write_image_folder(folder / "fake", add_noise(np.stack(list(VideoReader(real))), 12))
    return real, fake


def test_evaluate_streams_chunks_like_the_whole_clip_functions():
    real = np.stack(list(synthetic_frames(20, 64, 64)))  # more than one 16-frame chunk
    fake = add_noise(real, 10)
    result = evaluate(real, fake, ["psnr", "ssim", "warp", "flicker"])
    assert list(result) == ["psnr", "ssim", "warp", "warp_real", "flicker", "flicker_real"]
    assert result["psnr"] == pytest.approx(psnr(real, fake))
    assert result["ssim"] == pytest.approx(ssim(real, fake))
    assert result["warp"] == pytest.approx(warping_error(fake, flow_from=real))
    assert result["warp_real"] == pytest.approx(warping_error(real))
    assert result["flicker"] == pytest.approx(flicker(fake)) and result["flicker_real"] == pytest.approx(flicker(real))
    assert result["warp"] > 2 * result["warp_real"]


def test_identical_inputs_score_perfectly():
    frames = np.stack(list(synthetic_frames(32, 64, 64)))
    result = evaluate(frames, frames, ALL.split(","), feature_net="random")
    assert result["psnr"] == math.inf and result["ssim"] == pytest.approx(1.0)
    assert result["warp"] == result["warp_real"] and result["flicker"] == result["flicker_real"]
    assert result["fid"] == pytest.approx(0, abs=1e-6) and result["fvd"] == pytest.approx(0, abs=1e-6)
    assert -1e-3 < result["kid"] <= 0  # the unbiased MMD^2 of a set against itself is slightly negative
    assert result["is"] >= 1.0


def test_vidgan_eval_writes_the_requested_metrics(media, tmp_path, capsys):
    real, fake = media
    out = tmp_path / "metrics.json"
    code = main(["eval", "--real", str(real), "--fake", str(fake), "--metrics", ALL, "--feature-net", "random",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads(out.read_text())
    assert report["real"] == str(real) and report["fake"] == str(fake) and report["feature_net"] == "random"
    metrics = report["metrics"]
    expected = {"psnr", "ssim", "warp", "warp_real", "flicker", "flicker_real", "fid", "kid", "kid_std", "is",
                "is_std", "fvd"}
    assert set(metrics) == expected and all(isinstance(v, float) for v in metrics.values())
    assert 20 < metrics["psnr"] < 35 and metrics["ssim"] < 0.95 and metrics["warp"] > metrics["warp_real"]
    assert metrics["fid"] > 0 and metrics["fvd"] > 0
    for name in expected:
        assert any(line.split()[0] == name for line in printed.splitlines())


def test_non_finite_values_are_written_as_strings(tmp_path):
    path = save_metrics(tmp_path / "m.json", {"psnr": math.inf, "warp": math.nan, "ssim": 1.0}, real="a")
    report = json.loads(path.read_text())
    assert report == {"real": "a", "metrics": {"psnr": "inf", "warp": "nan", "ssim": 1.0}}
    assert float(report["metrics"]["psnr"]) == math.inf


def test_missing_input_exits_2_naming_it(media, tmp_path, capsys):
    real, _ = media
    missing = tmp_path / "missing.mp4"
    assert main(["eval", "--real", str(real), "--fake", str(missing)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(missing) in error and "no such file" in error


@pytest.mark.parametrize("metric, filename", [("fid", "inception_v3_google-0cc3c7bd.pth"),
                                              ("fvd", "i3d_torchscript.pt"),
                                              ("lpips", "alexnet-owt-7be5be79.pth")])
def test_missing_weights_exit_3_saying_where_to_put_them(media, tmp_path, capsys, metric, filename):
    real, fake = media
    code = main(["eval", "--real", str(real), "--fake", str(fake), "--metrics", f"psnr,{metric}",
                 "--weights", str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 3 and error.startswith("vidgan eval: error:")
    assert f"place the file {filename} in {tmp_path}" in error


def test_mismatched_inputs_exit_2_naming_both(media, tmp_path, capsys):
    real, _ = media
    frames = np.stack(list(VideoReader(real)))
    short = write_image_folder(tmp_path / "short", frames[:20])
    assert main(["eval", "--real", str(real), "--fake", str(short)]) == 2
    error = capsys.readouterr().err
    assert f"{short}: has 20 frames but the real {real} has 32" in error
    small = write_image_folder(tmp_path / "small", frames[:, :48])
    assert main(["eval", "--real", str(real), "--fake", str(small)]) == 2
    error = capsys.readouterr().err
    assert f"{small}: frame 0 is 64x48" in error and str(real) in error


def test_unknown_metrics_exit_2_listing_the_choices(media, capsys):
    real, fake = media
    assert main(["eval", "--real", str(real), "--fake", str(fake), "--metrics", "psnr,sharpness"]) == 2
    assert "unknown metrics sharpness; choose from psnr, ssim, lpips" in capsys.readouterr().err
