"""The one error hierarchy of vidgan.

Every error a user can cause (a bad file, a bad config key, a missing weights file) is a
:class:`VidganError`. The CLI prints ``str(error)`` as one line and exits non-zero; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from os import PathLike


class VidganError(Exception):
    """Base class of every error vidgan raises on purpose."""

    exit_code = 1


class InputError(VidganError):
    """An input file or folder is missing, unreadable or not what it should be."""

    exit_code = 2

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class OutputError(VidganError):
    """An output path cannot be written: a directory, an input of the run, an unwritable folder,
    an unknown file type."""

    exit_code = 2

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DecodeError(InputError):
    """A video or image opened but its content could not be decoded."""


class ConfigError(VidganError):
    """A config file or a ``key=value`` override is invalid."""

    exit_code = 2


class MissingWeightsError(VidganError):
    """External model weights are not on local disk; the message says where to put them."""

    exit_code = 3
