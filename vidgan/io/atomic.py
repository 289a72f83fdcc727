"""Safe outputs: a path checked before any work, then written whole or not at all (write, then
rename)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from vidgan.errors import OutputError

#: Containers the video writer produces.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")


def check_output(out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = (),
                 suffixes: Iterable[str] | None = None) -> Path:
    """Refuse, before any work, an output that cannot be written or would destroy something the
    user owns: a suffix outside ``suffixes``, a directory, one of the run's ``inputs`` (same file,
    any spelling), a parent that is a file or a folder that cannot be written. Raises
    :class:`OutputError` naming the path; returns it."""
    path = Path(out)
    suffixes = tuple(suffixes) if suffixes is not None else None
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise OutputError(path, f"the output must be a {' / '.join(suffixes)} file")
    if path.is_dir():
        raise OutputError(path, "is a directory; give a file path")
    resolved = path.resolve()
    for given in inputs:
        if given is not None and Path(given).resolve() == resolved:
            raise OutputError(path, "is also an input of this run; choose another output path")
    _check_writable(path, resolved.parent)
    return path


def check_output_folder(out: str | os.PathLike[str]) -> Path:
    """Refuse, before any work, an output folder that is a file or lies below one, or whose
    nearest existing folder cannot be written. Raises :class:`OutputError` naming it."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise OutputError(path, "is a file; give a folder for the output")
    _check_writable(path, path.resolve())
    return path


def _check_writable(path: Path, folder: Path) -> None:
    """Refuse ``path`` unless the nearest existing folder at or above ``folder`` is writable."""
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(path, f"cannot be written: {folder} is not a writable folder")


def temporary_sibling(path: Path) -> Path:
    """A hidden path beside ``path`` with the same suffix (so muxers pick the same format)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` only if the block succeeds.

    The parent folder is created. On any exception the temporary file is removed and the
    exception propagates, so a failed run never leaves a half-written ``path``.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(final)
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``path``; if the block succeeds it becomes ``path``
    (an existing folder there is replaced), else it is deleted. Readers see the old folder or
    the new one, never a half-written one."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        if final.exists():
            old = final.with_name(f".{final.name}.{os.getpid()}.old")
            os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old)
        else:
            os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
