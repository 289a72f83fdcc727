"""The `vidgan` command: subcommands, probe, convert, version, demo, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import pytest
from conftest import shared

from vidgan.cli import main
from vidgan.io import probe, read_audio


def run_vidgan(*args):
    return subprocess.run([sys.executable, "-m", "vidgan.cli", *args], capture_output=True, text=True)


def test_help_lists_the_subcommands():
    result = run_vidgan("--help")
    assert result.returncode == 0
    for name in ("probe", "convert", "version", "demo"):
        assert name in result.stdout


def test_version_names_the_libraries(capsys):
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    assert "vidgan 0.1.0" in out and "torch 2.14.1" in out


def test_probe_prints_json(capsys):
    assert main(["probe", str(shared("videos/talking_head_pexels.mp4")), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frames"] == 472 and Fraction(info["fps"]) == Fraction(24000, 1001)
    assert (info["width"], info["height"]) == (640, 360) and info["audio_codec"] == "aac"


def test_convert_changes_fps_and_size_and_keeps_audio(tmp_path, synthetic_video):
    target = tmp_path / "small.mp4"
    assert main(["convert", str(synthetic_video), str(target), "--fps", "12", "--size", "80x64", "--preset", "ultrafast"]) == 0
    info = probe(target)
    assert (info.width, info.height) == (80, 64) and info.fps == 12
    assert info.frames == 24  # 48 frames at 24 fps -> 2 s at 12 fps
    audio, rate = read_audio(target)
    assert abs(audio.shape[1] / rate - 2.0) <= 1 / 12


def test_bad_arguments_exit_non_zero_with_one_line(tmp_path):
    result = run_vidgan("convert", "in.mp4", str(tmp_path / "o.mp4"), "--size", "big")
    assert result.returncode == 2
    assert result.stderr.strip() == "vidgan convert: error: size 'big': expected WIDTHxHEIGHT or one number for the shorter side"
    result = run_vidgan("probe", str(tmp_path / "missing.mp4"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no such file" in result.stderr
    debug = run_vidgan("--debug", "probe", str(tmp_path / "missing.mp4"))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.slow
def test_demo_runs_the_transfer_workflow_end_to_end(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    args = ["demo", f"out_dir={out_dir}", "target_frames=12", "source_frames=8", "size=64",
            "train=[train.iterations=2]"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "transfer.mp4" in printed and "pck@0.2" in printed
    info = probe(out_dir / "transfer.mp4")
    assert info.frames == 8 and (info.width, info.height) == (256, 256) and info.has_audio  # enlarged 64 -> 256
    assert (out_dir / "transfer.report.html").is_file()


def test_flags_reach_the_config_as_given_not_reparsed_as_yaml(monkeypatch, tmp_path):
    """``vidgan preprocess 2024 off`` means the folders "2024" and "off" (YAML would read an int and
    a bool); ``--target-frames 2:`` stays the string "2:"; a key=value override still wins."""
    import vidgan.pipelines.motion_transfer as motion_transfer
    import vidgan.pipelines.preprocess as preprocess

    seen = {}

    class Stop(Exception):
        pass

    def capture(config):
        seen["config"] = config
        raise Stop

    monkeypatch.setattr(preprocess, "run_preprocess", capture)
    monkeypatch.setattr(motion_transfer, "run_motion_transfer", capture)
    with pytest.raises(Stop):
        main(["preprocess", "2024", "off", "--workers", "1", "settings.maps=true"])
    config = seen["config"]
    assert (config.inputs, config.out_dir, config.workers, config.settings.maps) == ("2024", "off", 1, True)
    with pytest.raises(Stop):
        main(["reenact", "--driving", "yes", "--target", "t.mp4", "--out", "o.mp4", "--target-frames", "2:",
              "preset=gpu-256"])
    config = seen["config"]
    assert (config.driving, config.target_frames, config.preset, config.kind) == ("yes", "2:", "gpu-256", "face")
    assert config.tracking.what == "face"
