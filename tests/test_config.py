"""Typed configs: YAML presets, key=value overrides, clear errors listing the valid keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from vidgan.config import bundled_config, load_config, parse_overrides, save_config
from vidgan.errors import ConfigError


@dataclass(frozen=True)
class Optimiser:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


@dataclass(frozen=True)
class Job:
    name: str = "job"
    steps: int = 10
    amp: bool = False
    mode: Literal["local", "ray"] = "local"
    resume: str | None = None
    scales: list[int] = field(default_factory=lambda: [1, 2])
    optimiser: Optimiser = field(default_factory=Optimiser)


def test_defaults_then_yaml_then_overrides(tmp_path):
    preset = tmp_path / "job.yaml"
    preset.write_text("name: dance\nsteps: 100\noptimiser:\n  lr: 0.001\n")
    job = load_config(Job, preset, ["steps=5", "optimiser.betas=[0.0, 0.99]", "mode=ray", "amp=true"])
    assert job == Job(name="dance", steps=5, amp=True, mode="ray", optimiser=Optimiser(lr=1e-3, betas=(0.0, 0.99)))


def test_override_parsing():
    assert parse_overrides(["a.b.c=3", "x=hello", "y=1e-4", "z=[1, 2]", "n=null", "e="]) == {
        "a": {"b": {"c": 3}}, "x": "hello", "y": "1e-4", "z": [1, 2], "n": None, "e": "",
    }
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["steps"])


def test_unknown_key_lists_the_valid_keys(tmp_path):
    preset = tmp_path / "job.yaml"
    preset.write_text("stepz: 3\n")
    with pytest.raises(ConfigError) as error:
        load_config(Job, preset)
    message = str(error.value)
    assert str(preset) in message and "'stepz'" in message
    assert "valid keys: name, steps, amp, mode, resume, scales, optimiser" in message
    with pytest.raises(ConfigError, match="'optimiser.momentum'.*valid keys: optimiser.lr, optimiser.betas"):
        load_config(Job, None, ["optimiser.momentum=0.9"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("steps=ten", "key 'steps' expects int, got 'ten'"),
        ("steps=1.5", "expects int"),
        ("amp=1", "key 'amp' expects bool"),
        ("mode=cluster", "must be one of 'local', 'ray'"),
        ("scales=[1, x]", r"key 'scales\[1\]' expects int"),
        ("optimiser=3", "section 'optimiser' must be a mapping"),
        ("optimiser.betas=[1.0]", "expects tuple"),
    ],
)
def test_wrong_types_are_errors(override, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(Job, None, [override])


def test_int_and_exponent_strings_are_accepted_for_float_and_optional_takes_null():
    job = load_config(Job, None, ["optimiser.lr=1", "resume=null"])
    assert job.optimiser.lr == 1.0 and isinstance(job.optimiser.lr, float) and job.resume is None
    assert load_config(Job, None, ["optimiser.lr=1e-4"]).optimiser.lr == 1e-4  # YAML 1.1 gotcha


def test_save_and_load_round_trip(tmp_path):
    job = Job(name="x", steps=3, optimiser=Optimiser(lr=0.5))
    assert load_config(Job, save_config(job, tmp_path / "saved.yaml")) == job


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(Job, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(Job, bad)


def test_every_bundled_preset_loads():
    from vidgan.pipelines.demo import DemoConfig

    presets = bundled_config("configs/pipelines")
    assert load_config(DemoConfig, presets / "demo.yaml") == DemoConfig()
