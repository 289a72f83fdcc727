"""Which torch device a setting names, checked against this machine."""

from __future__ import annotations

import torch

from vidgan.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the CUDA device when one exists, else CPU; anything else as given, once it is
    known to exist here (else a :class:`ConfigError` naming it)."""
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r}: not a torch device (cpu, cuda, cuda:1, auto ...)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise ConfigError(f"device {name!r}: no CUDA device on this machine (use cpu or auto)")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r}: this machine has {count} CUDA device(s)")
    elif device.type not in ("cpu", "mps"):
        raise ConfigError(f"device {name!r}: vidgan runs on cpu or cuda")
    return device
