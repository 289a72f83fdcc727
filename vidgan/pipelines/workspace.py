"""A resumable workspace: each step of a workflow records what it was computed from.

``steps.json`` maps a step's name to the digest of its inputs and settings. A step whose digest
is unchanged and whose outputs all exist is reused; anything else runs again (and every step
writes its outputs atomically, so a killed run never leaves a step looking done).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from vidgan.io.atomic import atomic_path


def file_digest(path: str | os.PathLike[str]) -> str:
    """A cheap identity of an input file: its resolved path, size and modification time."""
    stat = Path(path).stat()
    return f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


class Workspace:
    """A folder of step outputs plus ``steps.json``; :meth:`step` runs or reuses a step."""

    def __init__(self, root: str | os.PathLike[str], *, log: TextIO | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = log or sys.stderr
        self._index = self.root / "steps.json"
        self._steps: dict[str, dict[str, Any]] = json.loads(self._index.read_text()) if self._index.exists() else {}

    def path(self, name: str) -> Path:
        return self.root / name

    def step(self, name: str, inputs: dict[str, Any], outputs: Sequence[str], run: Callable[[], Any]) -> bool:
        """Run ``run()`` unless step ``name`` was done with the same ``inputs`` and its
        ``outputs`` (paths relative to the workspace) exist. Returns True if it ran."""
        digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
        record = self._steps.get(name)
        if record and record["digest"] == digest and all(self.path(o).exists() for o in outputs):
            print(f"[{name}] reusing {', '.join(outputs)} (same inputs)", file=self.log)
            return False
        print(f"[{name}] running", file=self.log)
        started = time.perf_counter()
        run()
        missing = [o for o in outputs if not self.path(o).exists()]
        if missing:
            raise RuntimeError(f"step {name} did not write {', '.join(missing)}")
        self._steps[name] = {"digest": digest, "seconds": round(time.perf_counter() - started, 2)}
        with atomic_path(self._index) as temporary:
            temporary.write_text(json.dumps(self._steps, indent=2, sort_keys=True))
        print(f"[{name}] done in {self._steps[name]['seconds']:.1f} s", file=self.log)
        return True

    def seconds(self, name: str) -> float | None:
        """How long step ``name`` took when it last ran."""
        record = self._steps.get(name)
        return record["seconds"] if record else None
