"""Shared fixtures: the real sample data in ../shared/data, and generated media."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

# Ray binds every node to loopback (not the machine's interface address): tests talk to
# 127.0.0.1 only. Ray reads this when it is first imported, so it is set before any test runs.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Before any test module imports torch: OpenMP threads sleep instead of spinning (see vidgan/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VIDEOS = SHARED_DATA / "videos"


def shared(relative: str) -> Path:
    """Path of a file under ../shared/data; skips locally if the folder is absent, fails in CI."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"{path} is absent (the shared sample data folder)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def bench_script(name: str) -> ModuleType:
    """The module of ``bench/<name>.py`` (proof tests call the same code as the scripts)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shared_videos() -> list[str]:
    """Names of the sample videos (empty when the shared folder is absent)."""
    return sorted(p.name for p in VIDEOS.iterdir()) if VIDEOS.is_dir() else ["<missing>"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="session")
def synthetic_video(tmp_path_factory) -> Path:
    """A generated 48-frame 128x160 clip at 24 fps with a tone soundtrack."""
    from vidgan.data import write_synthetic_video

    return write_synthetic_video(tmp_path_factory.mktemp("media") / "synthetic.mp4", frames=48, size=(128, 160))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    for tiny tensors one thread is as fast as two and immune to the OpenMP stalls two threads
    suffer (50x here) when other jobs keep the cores busy."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
