"""The one progress bar: tqdm on stderr, on when stderr is a terminal or VIDGAN_PROGRESS=1.

``VIDGAN_PROGRESS=json`` writes each refresh as one line for a program to read instead (the
web app's jobs): ``{"progress": desc, "n": done, "total": total or null}``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


class _JsonLines(tqdm):
    """A tqdm whose every refresh is one JSON line on its file."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        print(json.dumps({"progress": self.desc.rstrip(": "), "n": self.n, "total": self.total}), file=self.fp,
              flush=True)
        return True


def progress(
    iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "frame"
) -> tqdm:
    """Wrap ``iterable`` (or count manually with ``.update``) in a progress bar with rate and ETA."""
    setting = os.environ.get("VIDGAN_PROGRESS")
    if setting == "json":
        return _JsonLines(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, mininterval=0.5)
    enabled = sys.stderr.isatty() if setting is None else setting not in ("0", "false", "no")
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, file=sys.stderr
    )
