"""Finding external model weights on local disk; nothing is ever downloaded.

Missing weights raise :class:`~vidgan.errors.MissingWeightsError` whose message names the file
and the folder to put it in.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vidgan.errors import MissingWeightsError


def torch_checkpoints_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (torch's cache, default ``~/.cache/torch/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(filename: str, given: str | os.PathLike[str] | None = None, *, what: str) -> Path:
    """Path of weights file ``filename``: ``given`` (a file, or a folder holding ``filename``),
    else the torch checkpoints folder. Raises MissingWeightsError saying where to put it."""
    candidates = []
    if given is not None:
        given = Path(given)
        candidates.append(given / filename if given.is_dir() else given)
    else:
        candidates.append(torch_checkpoints_dir() / filename)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MissingWeightsError(
        f"{what} weights not found: {candidates[0]} does not exist. vidgan never downloads; "
        f"place the file {filename} in {candidates[0].parent} (or pass its path)"
    )
