"""Model files that ship inside installed packages (dlib's predictors)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from vidgan.errors import MissingWeightsError


def packaged_dlib_model(filename: str) -> Path:
    """A model file shipped by the ``face-recognition-models`` package (installed with vidgan)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise MissingWeightsError(
            f"dlib model {filename} not found: install the face-recognition-models package "
            "(pip install face-recognition-models), which ships it"
        )
    path = Path(spec.origin).parent / "models" / filename
    if not path.is_file():
        raise MissingWeightsError(f"dlib model not found: {path} does not exist (reinstall face-recognition-models)")
    return path
