"""Every user mistake is one clear error: across every subcommand (and the Python API), a bad
input, option, config value, keypoint file, model folder or output path gives exit 2 (or 3 for
undecodable media) and one line naming the file or key and the problem, no traceback, and no
file is created, changed or removed in the user's folder (an output that would overwrite an input
is refused, and that input stays byte-identical).

Each case runs ``vidgan.cli.main`` in this process from a folder holding the user's files, and
compares the folder before and after. ``test_native_libraries_stay_quiet`` runs the real script."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vidgan.cli import main

#: (id, argv with paths relative to the user's folder, exit code, text the one line must contain)
CASES: list[tuple[str, list[str], int, str]] = [
    # probe
    ("probe-missing", ["probe", "nothing.mp4"], 2, "nothing.mp4: no such file"),
    ("probe-folder", ["probe", "folder"], 2, "folder: is a directory"),
    ("probe-photo", ["probe", "photo.jpg"], 2, "photo.jpg: is a still image"),
    ("probe-text", ["probe", "notes.txt"], 2, "notes.txt: not a readable video"),
    ("probe-empty", ["probe", "empty.mp4"], 2, "empty.mp4: is empty"),
    # convert
    ("convert-onto-itself", ["convert", "clip.mp4", "clip.mp4", "--size", "64"], 2, "clip.mp4"),
    ("convert-onto-itself-other-spelling", ["convert", "clip.mp4", "./folder/../clip.mp4"], 2, "clip.mp4"),
    ("convert-fps-zero-denominator", ["convert", "clip.mp4", "out.mp4", "--fps", "1/0"], 2, "--fps"),
    ("convert-fps-text", ["convert", "clip.mp4", "out.mp4", "--fps", "abc"], 2, "--fps"),
    ("convert-crf-negative", ["convert", "clip.mp4", "out.mp4", "--crf", "-5"], 2, "crf must be"),
    ("convert-size-huge", ["convert", "clip.mp4", "out.mp4", "--size", "20000x20000"], 2, "size 20000x20000"),
    ("convert-size-text", ["convert", "clip.mp4", "out.mp4", "--size", "big"], 2, "size 'big'"),
    ("convert-out-is-folder", ["convert", "clip.mp4", "folder"], 2, "folder"),
    ("convert-parent-is-file", ["convert", "clip.mp4", "notes.txt/out.mp4"], 2, "notes.txt"),
    ("convert-unknown-suffix", ["convert", "clip.mp4", "out.xyz"], 2, "out.xyz"),
    ("convert-no-suffix", ["convert", "clip.mp4", "out"], 2, "out"),
    ("convert-missing-input", ["convert", "nothing.mp4", "out.mp4"], 2, "nothing.mp4"),
    ("convert-text-input", ["convert", "notes.txt", "out.mp4"], 2, "notes.txt"),
    # extract
    ("extract-out-txt", ["extract", "clip.mp4", "--out", "kp.txt"], 2, "kp.txt"),
    ("extract-max-people-zero", ["extract", "clip.mp4", "--out", "kp.npz", "--max-people", "0"], 2, "max"),
    ("extract-onto-input", ["extract", "clip.mp4", "--out", "clip.mp4"], 2, "clip.mp4"),
    ("extract-unknown-smoother", ["extract", "clip.mp4", "--out", "kp.npz", "--smooth", "magic"], 2, "magic"),
    ("extract-missing-video", ["extract", "nothing.mp4", "--out", "kp.npz"], 2, "nothing.mp4"),
    ("extract-cuda-without-gpu", ["extract", "clip.mp4", "--out", "kp.npz", "--device", "cuda"], 2, "cuda"),
    # preprocess
    ("preprocess-missing-folder", ["preprocess", "nowhere", "dataset"], 2, "nowhere"),
    ("preprocess-crop-size-negative", ["preprocess", "videos", "dataset", "settings.crop_size=-5"], 2,
     "crop_size"),
    ("preprocess-workers-zero", ["preprocess", "videos", "dataset", "--workers", "0"], 2, "workers"),
    ("preprocess-unknown-key", ["preprocess", "videos", "dataset", "settings.colour=red"], 2, "settings.colour"),
    ("preprocess-out-is-file", ["preprocess", "videos", "notes.txt"], 2, "notes.txt"),
    # train
    ("train-missing-config", ["train", "--config", "missing.yaml"], 2, "missing.yaml"),
    ("train-invalid-yaml", ["train", "--config", "broken.yaml"], 2, "broken.yaml"),
    ("train-unknown-family", ["train", "--config", "unknown_family.yaml"], 2, "family"),
    ("train-unknown-key", ["train", "--config", "configs/models/unit_test/mocogan.yaml", "train.speed=9"], 2,
     "train.speed"),
    ("train-lr-negative", ["train", "--config", "configs/models/unit_test/mocogan.yaml", "train.lr_g=-1"], 2,
     "lr_g"),
    ("train-lr-nan", ["train", "--config", "configs/models/unit_test/mocogan.yaml", "train.lr_g=.nan"], 2, "lr_g"),
    ("train-model-width-negative", ["train", "--config", "configs/models/unit_test/mocogan.yaml", "model.ngf=-4"],
     2, "ngf"),
    ("train-model-unknown-arg", ["train", "--config", "configs/models/unit_test/mocogan.yaml", "model.wings=2"], 2,
     "wings"),
    ("train-cuda-without-gpu", ["train", "--config", "configs/models/unit_test/mocogan.yaml",
                                "train.device=cuda"], 2, "cuda"),
    ("train-iterations-text", ["train", "--config", "configs/models/unit_test/mocogan.yaml",
                               "train.iterations=many"], 2, "iterations"),
    ("train-missing-data", ["train", "--config", "configs/models/unit_test/ref_warp.yaml",
                            "data.file=nothing.npz"], 2, "nothing.npz"),
    ("train-run-dir-is-file", ["train", "--config", "configs/models/unit_test/mocogan.yaml", "--run-dir",
                               "notes.txt"], 2, "notes.txt"),
    # eval
    ("eval-missing-real", ["eval", "--real", "nothing.mp4", "--fake", "clip.mp4"], 2, "nothing.mp4"),
    ("eval-out-parent-is-file", ["eval", "--real", "clip.mp4", "--fake", "clip.mp4", "--out", "notes.txt/m.json"],
     2, "notes.txt"),
    ("eval-out-unknown-suffix", ["eval", "--real", "clip.mp4", "--fake", "clip.mp4", "--out", "m.xyz"], 2, "m.xyz"),
    ("eval-out-onto-input", ["eval", "--real", "clip.mp4", "--fake", "clip.mp4", "--out", "clip.mp4"], 2,
     "clip.mp4"),
    ("eval-unknown-metric", ["eval", "--real", "clip.mp4", "--fake", "clip.mp4", "--metrics", "beauty"], 2,
     "beauty"),
    # transfer and reenact
    ("transfer-out-is-target", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out",
                                "target.mp4"], 2, "target.mp4"),
    ("transfer-out-is-source", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out",
                                "clip.mp4"], 2, "clip.mp4"),
    ("transfer-bogus-preset", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out", "o.mp4",
                               "--preset", "bogus"], 2, "cpu-small"),
    ("transfer-missing-source", ["transfer", "--source", "nothing.mp4", "--target", "target.mp4", "--out",
                                 "o.mp4"], 2, "nothing.mp4"),
    ("transfer-photo-target", ["transfer", "--source", "clip.mp4", "--target", "photo.jpg", "--out", "o.mp4"], 2,
     "photo.jpg"),
    ("transfer-bad-frame-range", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out", "o.mp4",
                                  "--target-frames", "a:b"], 2, "frame range 'a:b'"),
    ("transfer-out-unknown-suffix", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out",
                                     "o.txt"], 2, "o.txt"),
    ("transfer-train-override-bad", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out",
                                     "o.mp4", "train=[train.lr_g=-1]"], 2, "lr_g"),
    ("transfer-model-missing", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out", "o.mp4",
                                "--model", "nowhere"], 2, "nowhere"),
    ("transfer-face-track-for-body", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out",
                                      "o.mp4", "target_track=face.npz"], 2, "face.npz"),
    ("reenact-body-model", ["reenact", "--driving", "clip.mp4", "--target", "target.mp4", "--out", "o.mp4",
                            "--model", "body_model"], 2, "body_model"),
    ("reenact-bad-head-pose", ["reenact", "--driving", "clip.mp4", "--target", "target.mp4", "--out", "o.mp4",
                               "head_pose=sideways"], 2, "head_pose"),
    # sample
    ("sample-fps-zero", ["sample", "--model", "body_model", "--out", "s.mp4", "--fps", "0"], 2, "fps"),
    ("sample-fps-nan", ["sample", "--model", "body_model", "--out", "s.mp4", "--fps", "nan"], 2, "fps"),
    ("sample-n-zero", ["sample", "--model", "body_model", "--out", "s.mp4", "--n", "0"], 2, "--n"),
    ("sample-missing-model", ["sample", "--model", "nowhere", "--out", "s.mp4"], 2, "nowhere"),
    ("sample-not-a-video-gan", ["sample", "--model", "body_model", "--out", "s.mp4"], 2, "body_model"),
    ("sample-out-txt", ["sample", "--model", "body_model", "--out", "s.txt"], 2, "s.txt"),
    # pose-generate
    ("pose-generate-missing-image", ["pose-generate", "--image", "nothing.jpg", "--poses", "body.npz", "--out",
                                     "p.mp4", "--model", "pg2_model"], 2, "nothing.jpg"),
    ("pose-generate-text-image", ["pose-generate", "--image", "notes.txt", "--poses", "body.npz", "--out",
                                  "p.mp4", "--model", "pg2_model"], 2, "notes.txt"),
    ("pose-generate-huge-png", ["pose-generate", "--image", "huge.png", "--poses", "body.npz", "--out", "p.mp4",
                                "--model", "pg2_model"], 2, "huge.png"),
    ("pose-generate-wrong-family", ["pose-generate", "--image", "photo.jpg", "--poses", "body.npz", "--out",
                                    "p.mp4", "--model", "body_model"], 2, "body_model"),
    ("pose-generate-out-onto-poses", ["pose-generate", "--image", "photo.jpg", "--poses", "clip.mp4", "--out",
                                      "clip.mp4", "--model", "pg2_model"], 2, "clip.mp4"),
    ("pose-generate-blend-negative", ["pose-generate", "--image", "photo.jpg", "--poses", "body.npz", "--out",
                                      "p.mp4", "--model", "pg2_model", "--blend", "-1"], 2, "blend"),
    # age and frontalize
    ("age-out-is-input", ["age", "--input", "photo.jpg", "--out", "photo.jpg", "--model", "age_model",
                          "--target-age", "60"], 2, "photo.jpg"),
    ("age-steps-negative", ["age", "--input", "photo.jpg", "--out", "old.jpg", "--model", "age_model",
                            "--target-age", "60", "--steps", "-1"], 2, "steps"),
    ("age-missing-model", ["age", "--input", "photo.jpg", "--out", "old.jpg", "--model", "nowhere",
                           "--target-age", "60"], 2, "nowhere"),
    ("age-wrong-family", ["age", "--input", "photo.jpg", "--out", "old.jpg", "--model", "body_model",
                          "--target-age", "60"], 2, "body_model"),
    ("frontalize-text-input", ["frontalize", "--input", "notes.txt", "--out", "front.jpg", "--model",
                               "tpgan_model"], 2, "notes.txt"),
    ("frontalize-out-suffix", ["frontalize", "--input", "photo.jpg", "--out", "front.xyz", "--model",
                               "tpgan_model"], 2, "front.xyz"),
    # app
    ("app-remote-without-flag", ["app", "--host", "0.0.0.0"], 2, "--allow-remote"),
    ("app-port-out-of-range", ["app", "--port", "70000"], 2, "--port"),
    ("app-workspace-is-file", ["app", "--workspace", "notes.txt"], 2, "notes.txt"),
    # keypoint files
    ("keypoints-not-a-zip", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out", "o.mp4",
                             "target_track=not_zip.npz"], 2, "not_zip.npz"),
    ("keypoints-missing-array", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out", "o.mp4",
                                 "target_track=no_points.npz"], 2, "no_points.npz"),
    ("keypoints-unknown-skeleton", ["transfer", "--source", "clip.mp4", "--target", "target.mp4", "--out",
                                    "o.mp4", "target_track=alien.npz"], 2, "unknown skeleton 'alien9'"),
    # model folders
    ("model-class-without-module", ["sample", "--model", "classless_model", "--out", "s.mp4"], 2,
     "classless_model"),
    ("model-truncated-weights", ["sample", "--model", "truncated_model", "--out", "s.mp4"], 2, "truncated_model"),
    ("model-newer-format", ["sample", "--model", "future_model", "--out", "s.mp4"], 2, "future_model"),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A user's folder: videos, a photo, keypoint files, model folders, and some traps."""
    from vidgan.data import write_synthetic_video
    from vidgan.data.dancer import write_dancer_video
    from vidgan.io import write_image
    from vidgan.keypoints import Keypoints, get_skeleton, save_tracks
    from vidgan.config import bundled_config
    from vidgan.models import FAMILIES
    from vidgan.models.ref_warp import RefWarp

    home = tmp_path_factory.mktemp("home")
    write_synthetic_video(home / "clip.mp4", frames=12, size=(64, 80))
    _, track = write_dancer_video(home / "target.mp4", frames=12, size=(64, 64), audio=False)
    (home / "videos").mkdir()
    write_synthetic_video(home / "videos" / "a.mp4", frames=6, size=(64, 64), audio=False)
    write_image(home / "photo.jpg", np.full((64, 48, 3), 120, np.uint8))
    (home / "notes.txt").write_text("not a video\n")
    (home / "empty.mp4").write_bytes(b"")
    (home / "folder").mkdir()
    (home / "broken.yaml").write_text("family: [mocogan\n")
    (home / "unknown_family.yaml").write_text("family: stylegan9\n")
    # a PNG whose header declares 60000 x 60000 pixels (the rest of the file is cut)
    header = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (60000).to_bytes(4, "big") * 2
    (home / "huge.png").write_bytes(header + bytes.fromhex("0802000000") + b"\0" * 64)

    save_tracks(home / "body.npz", [track])
    ibug = get_skeleton("ibug68")
    face = Keypoints(np.full((12, ibug.num_joints, 3), 30, np.float32), ibug, np.arange(12), image_size=(64, 64))
    save_tracks(home / "face.npz", [face])
    (home / "not_zip.npz").write_bytes(b"PK? no, just text")
    (home / "not_zip.json").write_text((home / "body.json").read_text())
    with zipfile.ZipFile(home / "no_points.npz", "w") as archive:
        archive.writestr("frame_index.npy", b"")
    (home / "no_points.json").write_text((home / "body.json").read_text())
    (home / "alien.npz").write_bytes((home / "body.npz").read_bytes())
    sidecar = json.loads((home / "body.json").read_text())
    sidecar_text = json.dumps(sidecar).replace('"coco17"', '"alien9"').replace('"openpose18"', '"alien9"')
    (home / "alien.json").write_text(sidecar_text)

    torch.manual_seed(0)
    for family, name in (("pose_guided", "pg2_model"), ("age_cgan", "age_model"), ("tpgan", "tpgan_model")):
        config = yaml.safe_load(bundled_config(f"configs/models/unit_test/{family}.yaml").read_text())
        importlib.import_module(FAMILIES[family]).FAMILY.model(**config["model"]).save_pretrained(home / name)
    RefWarp(3, references=1, channels=(8, 16), d_channels=8, d_layers=2, num_d_scales=1).save_pretrained(
        home / "body_model")
    for name in ("classless_model", "truncated_model", "future_model"):
        folder = home / name
        folder.mkdir()
        for file in ("config.json", "model.safetensors"):
            (folder / file).write_bytes((home / "body_model" / file).read_bytes())
    document = json.loads((home / "body_model" / "config.json").read_text())
    (home / "classless_model" / "config.json").write_text(json.dumps({"class": "RefWarp", "args": document["args"]}))
    weights = (home / "truncated_model" / "model.safetensors").read_bytes()
    (home / "truncated_model" / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    (home / "future_model" / "config.json").write_text(json.dumps({**document, "format": 99}))
    return home


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder below ``folder`` -> its SHA-256 (folders: "dir")."""
    result = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        result[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return result


@pytest.mark.parametrize(("argv", "code", "needle"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_user_mistake_is_one_line_and_changes_nothing(argv, code, needle, home, monkeypatch, capsys):
    monkeypatch.chdir(home)
    before = snapshot(home)
    returned = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert returned == code, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"vidgan {argv[0]}: error: ") and needle in lines[0], lines[0]
    assert snapshot(home) == before


def test_there_are_at_least_sixty_cases_over_every_subcommand():
    from vidgan.cli import COMMANDS

    covered = {argv[0] for _, argv, _, _ in CASES}
    assert len(CASES) >= 60
    assert set(COMMANDS) - covered <= {"version", "demo"}  # no inputs to get wrong


@pytest.mark.parametrize("call", ["load_config", "read_image", "from_pretrained", "load_tracks", "VideoReader"])
def test_the_python_api_raises_vidgan_errors_naming_the_file(call, home):
    from vidgan import VideoReader, VidganError, load_config, read_image
    from vidgan.keypoints import load_tracks
    from vidgan.models.base import GANModel
    from vidgan.train.experiment import ExperimentConfig

    calls = {
        "load_config": (lambda: load_config(ExperimentConfig, home / "broken.yaml"), "broken.yaml"),
        "read_image": (lambda: read_image(home / "huge.png"), "huge.png"),
        "from_pretrained": (lambda: GANModel.from_pretrained(home / "truncated_model"), "truncated_model"),
        "load_tracks": (lambda: load_tracks(home / "alien.npz"), "alien"),
        "VideoReader": (lambda: VideoReader(home / "notes.txt"), "notes.txt"),
    }
    function, needle = calls[call]
    with pytest.raises(VidganError, match=needle):
        function()


def test_native_libraries_stay_quiet(home, tmp_path):
    """mediapipe / absl / TF Lite log lines do not print on a normal run, nor before an error."""
    script = [sys.executable, "-m", "vidgan.cli"]
    run = subprocess.run([*script, "extract", str(home / "target.mp4"), "--what", "body", "--out",
                          str(tmp_path / "kp.npz")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    noisy = [line for line in run.stderr.splitlines() if any(mark in line for mark in
                                                              ("absl", "TensorFlow", "W0000", "I0000", "INFO:", "gl_context"))]
    assert not noisy, noisy
