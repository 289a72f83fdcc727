"""Face editing on photos and videos (`vidgan age`, `vidgan frontalize`, vidgan.pipelines.face_edit):
stable aligned crops of every tracked face, the edit, temporal smoothing, feathered paste-back
that leaves every pixel outside the mask untouched, audio kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA as SHARED

from vidgan.pipelines.face_edit import FaceEditConfig, edit_frames
from vidgan.errors import InputError
from vidgan.metrics import warping_error

TALKING = SHARED / "videos" / "talking_head_pexels.mp4"
PHOTO = SHARED / "faces" / "single_face.jpg"


pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass
class FlickeringTint:
    """A stand-in face model: tints the crop and adds a different brightness every frame (the
    flicker a per-frame editor has); records what it was given."""

    crop_size: int = 64
    crop_scale: float = 1.3

    def __post_init__(self) -> None:
        self.device = torch.device("cpu")
        self.calls: list[tuple[tuple[int, ...], bool]] = []
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self, crops: torch.Tensor, landmarks: torch.Tensor, smooth: bool) -> torch.Tensor:
        self.calls.append((tuple(crops.shape), smooth))
        assert landmarks.shape == (len(crops), 68, 2)
        assert (landmarks >= 0).all() and (landmarks < self.crop_size).all()  # the face is inside its crop
        offsets = 0.3 * torch.rand(len(crops), 1, 1, 1, generator=self.generator)
        tint = torch.tensor([0.2, -0.1, -0.1]).view(1, 3, 1, 1)
        return (crops + tint + offsets).clamp(-1, 1)


def run_frames(config: FaceEditConfig, editor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    originals, results, masks = zip(*edit_frames(config, editor))
    return np.stack(originals), np.stack(results), np.stack(masks)


def config_for(source: Path, out: Path, **options) -> FaceEditConfig:
    return FaceEditConfig(input=str(source), out=str(out), model="unused", edit="frontalize", **options)


def test_video_faces_are_edited_inside_the_mask_only_and_smoothing_cuts_flicker(tmp_path):
    editor = FlickeringTint()
    originals, plain, masks = run_frames(config_for(TALKING, tmp_path / "a.mp4", frames="0:16", smooth=False), editor)
    assert originals.shape == (16, 360, 640, 3) and masks.shape == (16, 360, 640)
    assert editor.calls == [((16, 3, 64, 64), False)]  # one track, all 16 frames in one run
    outside = masks == 0
    assert outside.mean() > 0.4 and (masks > 0.99).any(axis=(1, 2)).all()  # a face in every frame
    assert np.array_equal(plain[outside], originals[outside])  # untouched outside the mask
    inside = masks > 0.99
    assert plain[..., 0][inside].astype(int).mean() > originals[..., 0][inside].astype(int).mean() + 10  # tinted

    smooth_editor = FlickeringTint()
    _, smoothed, smooth_masks = run_frames(config_for(TALKING, tmp_path / "b.mp4", frames="0:16", blend=0.6),
                                           smooth_editor)
    assert smooth_editor.calls == [((16, 3, 64, 64), True)]
    assert np.array_equal(smooth_masks, masks)
    assert np.array_equal(smoothed[outside], originals[outside])
    face = masks > 0.5
    flicker_off = warping_error(plain, flow_from=originals, region=face)
    flicker_on = warping_error(smoothed, flow_from=originals, region=face)
    assert flicker_on < 0.8 * flicker_off, (flicker_on, flicker_off)


def test_a_face_that_leaves_is_edited_while_it_is_there_only(tmp_path):
    editor = FlickeringTint()
    source = SHARED / "videos" / "face_then_noface.mov"  # the face is found in frames 0..71
    originals, results, masks = run_frames(config_for(source, tmp_path / "o.mp4", frames="60:84"), editor)
    assert editor.calls == [((12, 3, 64, 64), True)]  # one run: frames 60..71
    present = masks.max(axis=(1, 2)) > 0
    assert present[:12].all() and not present[12:].any()
    assert np.array_equal(results[12:], originals[12:])


def test_photo_every_face_edited_and_pasted_back(tmp_path):
    editor = FlickeringTint(crop_size=48, crop_scale=1.5)
    originals, results, masks = run_frames(config_for(PHOTO, tmp_path / "out.jpg"), editor)
    assert len(originals) == 1 and [c[1] for c in editor.calls] == [False]
    assert 0 < (masks > 0).mean() < 0.5
    assert np.array_equal(results[masks == 0], originals[masks == 0])
    assert not np.array_equal(results[masks > 0.5], originals[masks > 0.5])


def test_input_without_faces_or_missing_is_an_error_naming_it(tmp_path):
    editor = FlickeringTint()
    missing = tmp_path / "nope.mp4"
    with pytest.raises(InputError, match="nope.mp4"):
        next(edit_frames(config_for(missing, tmp_path / "o.mp4"), editor))
    originals, results, masks = run_frames(config_for(SHARED / "videos" / "no_face.mp4", tmp_path / "o.mp4",
                                                      frames="0:4"), editor)
    assert editor.calls == [] and np.array_equal(results, originals) and not masks.any()


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Untrained tiny Age-cGAN and TP-GAN model folders (the commands' plumbing, not their quality)."""
    from vidgan.models.age_cgan import FaceAger
    from vidgan.models.tpgan import Frontalizer

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    ager = FaceAger(crop_size=32, crop_scale=1.3, z_dim=8, g_channels=(32, 16, 8), d_channels=(8, 16, 32),
                    e_channels=(8, 16, 32))
    frontalizer = Frontalizer(crop_size=32, crop_scale=1.3, channels=(8, 8, 16, 16, 32), fc_dim=16, fc_channels=8,
                              noise_dim=4, local_channels=(8, 16), local_features=8, d_channels=8, d_layers=2)
    return {"age": ager.save_pretrained(folder / "ager"), "frontalize": frontalizer.save_pretrained(folder / "front")}


def test_age_command_on_a_photo_keeps_everything_but_the_face(tmp_path, tiny_models):
    from vidgan.cli import main
    from vidgan.io import read_image

    out = tmp_path / "older.png"
    assert main(["age", "--input", str(PHOTO), "--target-age", "70", "--model", str(tiny_models["age"]),
                 "--out", str(out), "--steps", "2"]) == 0
    original, result = read_image(PHOTO), read_image(out)
    assert result.shape == original.shape and not np.array_equal(result, original)
    assert np.array_equal(result[:20], original[:20]) and np.array_equal(result[:, :20], original[:, :20])


def test_frontalize_command_on_a_video_keeps_frames_and_audio(tmp_path, tiny_models, capsys):
    from vidgan.cli import main
    from vidgan.io import probe

    out = tmp_path / "front.mp4"
    assert main(["frontalize", "--input", str(TALKING), "--frames", "0:6", "--model", str(tiny_models["frontalize"]),
                 "--out", str(out), "device=cpu"]) == 0
    info = probe(out)
    assert info.frames == 6 and info.size == (360, 640) and info.has_audio
    assert "1 face track(s)" in capsys.readouterr().out


def test_face_commands_reject_bad_input_naming_it(tmp_path, tiny_models, capsys):
    from vidgan.cli import main

    out = tmp_path / "x.mp4"
    assert main(["age", "--input", str(tmp_path / "missing.mp4"), "--target-age", "50", "--model",
                 str(tiny_models["age"]), "--out", str(out)]) == 2
    assert "missing.mp4" in capsys.readouterr().err
    assert main(["frontalize", "--input", str(TALKING), "--model", str(tmp_path), "--out", str(out)]) == 2
    assert "config.json" in capsys.readouterr().err and not out.exists()
    assert main(["frontalize", "--input", str(TALKING), "--model", str(tiny_models["age"]), "--out", str(out)]) == 2
    assert "Frontalizer" in capsys.readouterr().err
