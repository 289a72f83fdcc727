"""The one progress bar: tqdm on stderr, on when stderr is a terminal or VIDGAN_PROGRESS=1."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "frame"
) -> tqdm:
    """Wrap ``iterable`` (or count manually with ``.update``) in a progress bar with rate and ETA."""
    setting = os.environ.get("VIDGAN_PROGRESS")
    enabled = sys.stderr.isatty() if setting is None else setting not in ("0", "false", "no")
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, file=sys.stderr
    )
