"""A normal (not editable) install works: the wheel built from the repo holds the workflows
(``vidgan.pipelines``) and the presets as package data, and nothing named ``pipelines`` or
``configs`` at the top level. The wheel is installed with ``--no-deps`` into a fresh venv that sees
this venv's packages, and used from a folder outside the repository."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LOAD_EVERY_PRESET = """
import sys
from pathlib import Path

import vidgan
from vidgan.config import bundled_config, load_config
from vidgan.pipelines.demo import DemoConfig
from vidgan.pipelines.preprocess import PreprocessConfig
from vidgan.train.experiment import ExperimentConfig

assert Path(vidgan.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), vidgan.__file__
kinds = {"demo.yaml": DemoConfig, "preprocess.yaml": PreprocessConfig}
loaded = 0
folders = [bundled_config("configs")]
while folders:
    for entry in folders.pop().iterdir():
        if entry.is_dir():
            folders.append(entry)
        elif entry.name.endswith(".yaml"):
            load_config(kinds.get(entry.name, ExperimentConfig), entry)
            loaded += 1
print(loaded)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The ``bin/`` of a fresh venv holding the wheel of this repository."""
    tmp = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools writes build/ and *.egg-info/ beside the sources
    source = shutil.copytree(ROOT, tmp / "source", ignore=shutil.ignore_patterns(
        ".*", "out", "runs", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--disable-pip-version-check", "-w", str(tmp / "dist"), str(source)], check=True, timeout=600)
    (wheel,) = (tmp / "dist").glob("vidgan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"vidgan", wheel.name.removesuffix("-py3-none-any.whl") + ".dist-info"}
    assert "vidgan/configs/pipelines/demo.yaml" in names
    assert "vidgan/pipelines/motion_transfer.py" in names
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "-q", "--disable-pip-version-check", str(wheel)], check=True, timeout=600)
    # the dependencies come from this venv: its site-packages as a path entry (its .pth files, and
    # so the editable vidgan of this checkout, are not read)
    (target,) = (venv / "lib").glob("python3.*/site-packages")
    (target / "test_venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv / "bin"


def run(bin_dir: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(args, cwd=cwd, env={**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"},
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_installed_wheel_has_its_commands_presets_and_trains_outside_the_repo(installed, tmp_path):
    help_text = run(installed, ["vidgan", "transfer", "--help"], tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    assert "--preset" in help_text.stdout

    presets = run(installed, [str(installed / "python"), "-c", LOAD_EVERY_PRESET], tmp_path)
    assert presets.returncode == 0, presets.stderr
    bundled = len(list((ROOT / "vidgan" / "configs").rglob("*.yaml")))
    assert int(presets.stdout.split()[-1]) == bundled > 20

    no_top_level = run(installed, [str(installed / "python"), "-c", "import pipelines"], tmp_path)
    assert "No module named 'pipelines'" in no_top_level.stderr

    # a named preset with a typo is one line naming the bundled ones
    typo = run(installed, ["vidgan", "transfer", "--source", "a.mp4", "--target", "b.mp4", "--out", "c.mp4",
                           "--preset", "cpu-smal"], tmp_path)
    assert typo.returncode == 2 and "choose one of cpu-small" in typo.stderr

    trained = run(installed, ["vidgan", "train", "--config", "configs/models/unit_test/dvdgan.yaml",
                              "--run-dir", "run", "train.iterations=2"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert not (tmp_path / "configs").exists()
