"""Model folders are data, never code: names resolve from vidgan's registry only, arguments and
weights are checked before anything is built, every bad folder is one clear error."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from vidgan.errors import InputError
from vidgan.models.base import GANModel
from vidgan.models.ref_warp import RefWarp
from vidgan.models.vid2vid import Vid2Vid
from vidgan.config import bundled_config
from vidgan.nn.pretrained import FORMAT_VERSION


def small_model() -> RefWarp:
    torch.manual_seed(0)
    return RefWarp(1, references=1, channels=(8, 16), d_channels=8, d_layers=2, num_d_scales=1)


@pytest.fixture
def folder(tmp_path):
    return small_model().save_pretrained(tmp_path / "model")


def edit_config(folder, **changes):
    document = json.loads((folder / "config.json").read_text())
    document.update(changes)
    (folder / "config.json").write_text(json.dumps(document))
    return document


def test_a_folder_names_a_registered_model_and_rebuilds_it_exactly(folder):
    document = json.loads((folder / "config.json").read_text())
    assert document["format"] == FORMAT_VERSION and document["model"] == "RefWarp" and "class" not in document
    loaded = GANModel.from_pretrained(folder)  # the base class returns the saved subclass
    assert type(loaded) is RefWarp
    for (name, a), (_, b) in zip(small_model().state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_an_older_folder_without_a_format_still_loads(folder):
    document = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({"class": "vidgan.models.ref_warp.RefWarp", "args": document["args"]}))
    assert type(RefWarp.from_pretrained(folder)) is RefWarp


def test_a_folder_cannot_make_vidgan_import_a_module(folder):
    (folder / "planted_module.py").write_text("import pathlib\npathlib.Path(__file__).with_name('ran').touch()\n"
                                              "class Evil: pass\n")
    sys.path.insert(0, str(folder))
    try:
        for document in ({"class": "planted_module.Evil", "args": {}},
                         {"format": 1, "model": "planted_module.Evil", "args": {}},
                         {"format": 1, "model": "Evil", "args": {}}):
            (folder / "config.json").write_text(json.dumps(document))
            with pytest.raises(InputError, match="unknown model"):
                GANModel.from_pretrained(folder)
    finally:
        sys.path.remove(str(folder))
    assert "planted_module" not in sys.modules and not (folder / "ran").exists()


def test_an_older_folder_naming_a_registered_name_in_another_module_is_refused(folder):
    (folder / "config.json").write_text(json.dumps({"class": "somewhere.else.RefWarp", "args": {}}))
    with pytest.raises(InputError, match="unknown model"):
        GANModel.from_pretrained(folder)


@pytest.mark.parametrize(("changes", "message"), [
    ({"format": FORMAT_VERSION + 1}, "newer vidgan"),
    ({"format": "1"}, "format must be a whole number"),
    ({"model": "Nothing"}, "unknown model 'Nothing'"),
    ({"args": {"map_channels": 1, "evil": 3}}, "args.evil: RefWarp takes no such argument"),
    ({"args": {"references": 1}}, "args.map_channels: missing"),
    ({"args": {"map_channels": "1"}}, "args.map_channels: '1' is not a int"),
    ({"args": {"map_channels": 1, "channels": [8, "x"]}}, "args.channels"),
    ({"args": {"map_channels": 1, "references": 0}}, "args: these values do not build a RefWarp: references must be >= 1"),
    ({"args": [1, 2]}, "model must be a name, args an object"),
])
def test_a_bad_config_is_one_clear_error(folder, changes, message):
    edit_config(folder, **changes)
    with pytest.raises(InputError, match=message) as error:
        RefWarp.from_pretrained(folder)
    assert str(error.value).startswith(str(folder / "config.json"))


def test_a_config_asking_for_a_huge_model_is_refused_before_anything_is_allocated(folder):
    args = json.loads((folder / "config.json").read_text())["args"]
    edit_config(folder, args={**args, "channels": [4096, 8192, 16384, 32768]})  # ~25 GB of float32
    with pytest.raises(InputError, match="weights do not fit RefWarp: .* is .* in the file, the model has shape"):
        RefWarp.from_pretrained(folder)


@pytest.mark.parametrize("damage", ["truncated", "random", "empty_header"])
def test_damaged_weights_are_one_clear_error(folder, damage):
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    if damage == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        weights.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
                            .numpy().tobytes())
    else:  # a valid file holding no tensor
        import safetensors.torch
        safetensors.torch.save_file({}, str(weights))
    expected = "tensors missing" if damage == "empty_header" else "not a safetensors weights file"
    with pytest.raises(InputError, match=expected):
        RefWarp.from_pretrained(folder)


def test_a_folder_of_another_family_is_one_clear_error(folder):
    with pytest.raises(InputError, match="holds a RefWarp, not a Vid2Vid"):
        Vid2Vid.from_pretrained(folder)


def test_the_cli_refuses_a_bad_folder_with_one_line_and_exit_2(folder, tmp_path):
    (folder / "config.json").write_text(json.dumps({"class": "os.system", "args": {"command": "touch pwned"}}))
    result = subprocess.run([sys.executable, "-m", "vidgan.cli", "sample", "--model", str(folder),
                             "--out", str(tmp_path / "s.mp4")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown model 'os.system'" in result.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "s.mp4").exists()


@pytest.mark.parametrize("family", ["vid2vid", "pose_guided", "mocogan", "dvdgan", "age_cgan", "tpgan", "ref_warp"])
def test_every_family_model_round_trips_through_the_registry(family, tmp_path):
    import importlib

    import yaml

    from vidgan.models import FAMILIES, MODELS

    config = yaml.safe_load(bundled_config(f"configs/models/unit_test/{family}.yaml").read_text())
    model_class = importlib.import_module(FAMILIES[family]).FAMILY.model
    assert MODELS[model_class.__name__] == model_class.__module__  # registered where it is defined
    torch.manual_seed(0)
    model = model_class(**config["model"])
    loaded = GANModel.from_pretrained(model.save_pretrained(tmp_path / "model"))
    assert type(loaded) is model_class and loaded.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_a_missing_gpu_is_named_as_such_not_as_a_bad_folder(folder, monkeypatch):
    from vidgan.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)  # as on a machine without one
    with pytest.raises(ConfigError, match="device 'cuda': no CUDA device on this machine"):
        RefWarp.from_pretrained(folder, device="cuda")
