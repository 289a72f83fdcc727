"""The keypoint track of one person or face over a frame range of a video, smoothed and saved.

One row per video range: the motion-transfer workflows run the target and the source as two
rows (side by side on Ray), and re-extract the track of a generated video to score it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vidgan.errors import VidganError
from vidgan.keypoints import COCO17, IBUG68, Smoother, save_tracks
from vidgan.keypoints.extract import ExtractSettings, FrameKeypointer, extract_video
from vidgan.stages.base import Batch, Resources, Stage, batch_to_rows, limited_threads, rows_to_batch


@dataclass(frozen=True)
class TrackSettings:
    """What to track: ``what`` body (COCO-17) or face (iBUG-68); ``backend`` (default: body
    mediapipe, face dlib); ``smooth`` filter (``none`` keeps raw detections); ``weights`` and torch
    ``device`` of the model-based backends; ``threads`` per worker."""

    what: Literal["body", "face"] = "body"
    backend: str | None = None
    smooth: str = "kalman"
    weights: str | None = None
    device: str = "cpu"
    threads: int = 1

    @property
    def skeleton(self):
        return COCO17 if self.what == "body" else IBUG68


class ExtractTrack(Stage):
    """Row ``{"video", "start", "stop", "out"}`` -> the main person's (largest face's) track of
    frames ``start..stop-1`` saved to ``out`` (npz, empty when nobody is found); ``status``
    ``written`` or ``failed`` with ``error``."""

    resources = Resources(num_cpus=1.0, batch_size=1, concurrency=2, stateful=True)

    def __init__(self, settings: dict) -> None:
        self.settings = TrackSettings(**settings)
        self.keypointer = FrameKeypointer(ExtractSettings(
            what=self.settings.what, backend=self.settings.backend, weights=self.settings.weights,
            device=self.settings.device, max_people=1, threads=self.settings.threads,
        ))
        self.smoother = Smoother(self.settings.smooth) if self.settings.smooth != "none" else None

    def __call__(self, batch: Batch) -> Batch:
        with limited_threads(self.settings.threads):
            return rows_to_batch([self._extract(row) for row in batch_to_rows(batch)])

    def _extract(self, row: dict) -> dict:
        try:
            tracks = extract_video(row["video"], self.settings.what, settings=self.keypointer.settings,
                                   keypointer=self.keypointer, start=row["start"], stop=row["stop"])
            tracks = [self.smoother(t) for t in tracks] if self.smoother else tracks
            save_tracks(row["out"], tracks[:1], skeleton=self.settings.skeleton)
            row.update(status="written", error="")
        except (VidganError, OSError) as error:
            row.update(status="failed", error=str(error))
        return row
