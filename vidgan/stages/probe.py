"""The first stage of dataset preprocessing: probe each source video.

Torch-free on purpose: its Ray worker starts in a fraction of a second instead of importing the
models' stack (seconds per process on a small machine).
"""

from __future__ import annotations

import sys

from vidgan.data.layout import is_complete, sha256_file, video_dir
from vidgan.errors import VidganError
from vidgan.io import probe
from vidgan.stages.base import Batch, Resources, Stage, batch_to_rows, rows_to_batch


class ProbeVideos(Stage):
    """Probe each source and check whether its dataset folder is already complete.

    Sets ``status`` (``todo``, ``done`` or ``failed`` with ``error``), ``frames`` (capped at the
    settings' ``max_frames``) and ``source_sha256``.
    """

    # inline: runs in the next stage's workers (a process of its own costs seconds to start)
    resources = Resources(batch_size=1, inline=True)

    def __init__(self, out_dir: str, settings: dict) -> None:
        self.out_dir, self.settings = out_dir, settings

    def __call__(self, batch: Batch) -> Batch:
        return rows_to_batch([self._probe(row) for row in batch_to_rows(batch)])

    def _probe(self, row: dict) -> dict:
        row.update(status="todo", error="", frames=0, source_sha256="")
        try:
            row["frames"] = min(probe(row["source"]).frames, self.settings.get("max_frames") or sys.maxsize)
            row["source_sha256"] = sha256_file(row["source"])
            if is_complete(video_dir(self.out_dir, row["video_id"]), source_sha256=row["source_sha256"],
                           settings=self.settings):
                row["status"] = "done"
        except (VidganError, OSError) as error:
            row.update(status="failed", error=str(error))
        return row
