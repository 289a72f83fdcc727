"""Checkpoints of a training run: written atomically, read without unpickling code.

``run_dir/checkpoints/iteration_0000100/`` holds ``model/`` (the model's ``save_pretrained``
folder), ``ema.safetensors`` (the generator average) and ``trainer.pt`` (optimisers, loss
scalers, counters and every rank's RNG states: tensors and plain values only, loaded with
``torch.load(weights_only=True)``). A checkpoint is built in a hidden folder and renamed into
place, and ``latest`` names the newest; a kill at any moment leaves the previous one intact.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from vidgan.errors import InputError
from vidgan.io.atomic import atomic_dir

LATEST = "latest"
_PREFIX = "iteration_"


def rng_state() -> dict[str, Any]:
    """This process's torch, CUDA, numpy and Python RNG states as tensors and plain values."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    python_version, python_state, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": position,
                  "has_gauss": has_gauss, "cached": cached},
        "python": {"version": python_version, "state": list(python_state), "gauss": python_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))


def checkpoint_dir(run_dir: Path, iteration: int) -> Path:
    return run_dir / "checkpoints" / f"{_PREFIX}{iteration:07d}"


def write_checkpoint(
    run_dir: Path, iteration: int, model: Any, ema: nn.Module | None, trainer_state: dict[str, Any], keep: int
) -> Path:
    """Write checkpoint ``iteration`` atomically, point ``latest`` at it, keep the newest ``keep``."""
    final = checkpoint_dir(run_dir, iteration)
    with atomic_dir(final) as staging:
        model.save_pretrained(staging / "model")
        if ema is not None:
            safetensors.torch.save_model(ema, str(staging / "ema.safetensors"))
        torch.save(trainer_state, staging / "trainer.pt")
    pointer = final.parent / f".{LATEST}.tmp"
    pointer.write_text(final.name + "\n")
    os.replace(pointer, final.parent / LATEST)
    for old in sorted(final.parent.glob(f"{_PREFIX}*"))[:-keep]:
        shutil.rmtree(old)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``latest`` names, or None when the run has none."""
    pointer = run_dir / "checkpoints" / LATEST
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    if not (folder / "trainer.pt").is_file():
        raise InputError(folder, "checkpoint named by 'latest' is incomplete; delete it or the pointer")
    return folder


#: What every ``trainer.pt`` holds (written by the trainer's ``state()``).
TRAINER_STATE_KEYS = frozenset({"iteration", "micro_position", "d_updates", "lr_scale", "rollbacks", "opt_g", "opt_d",
                                "scaler_g", "scaler_d", "noise_generator", "world", "rng"})


def read_checkpoint(folder: Path, model: nn.Module, ema: nn.Module | None, device: torch.device) -> dict[str, Any]:
    """Load weights into ``model`` and ``ema`` in place; return the trainer state."""
    try:
        safetensors.torch.load_model(model, str(folder / "model" / "model.safetensors"), device=str(device))
        if ema is not None:
            safetensors.torch.load_model(ema, str(folder / "ema.safetensors"), device=str(device))
        state = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(folder / "trainer.pt", "holds objects other than tensors and plain values: refused "
                                                "(vidgan never unpickles code)") from None
    except (RuntimeError, OSError, EOFError, safetensors.SafetensorError) as error:
        raise InputError(folder, f"cannot resume from this checkpoint: {_first_line(error)}") from None
    missing = sorted(TRAINER_STATE_KEYS - set(state)) if isinstance(state, dict) else sorted(TRAINER_STATE_KEYS)
    if missing:
        raise InputError(folder / "trainer.pt", f"not a vidgan trainer state (missing {', '.join(missing)})")
    return state


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
