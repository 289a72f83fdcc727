"""The main job on a bundled default (``make demo``): ``vidgan transfer`` on a synthetic dancer.

The project renders its own footage (no download, no shared folder): a target dancer and a
source dancer with another motion style and a soundtrack (:mod:`vidgan.data.dancer`). The
transfer workflow then runs end to end on them: poses extracted with mediapipe, normalised,
a small reference-warp model trained for a few minutes on the target, the source's motion generated
in chunks and encoded with the source's audio, plus ``transfer.report.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vidgan.pipelines.motion_transfer import (
    MotionTransferConfig,
    MotionTransferReport,
    run_motion_transfer,
)
from vidgan.data.dancer import write_dancer_video
from vidgan.stages.tracks import TrackSettings


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo job (``configs/pipelines/demo.yaml``)."""

    out_dir: str = "out/demo"
    target_frames: int = 96
    source_frames: int = 48
    size: int = 128
    fps: int = 24
    preset: str = "configs/models/ref_warp_demo.yaml"
    train: list[str] = field(default_factory=list)
    runner: Literal["local", "ray"] = "local"
    device: str = "auto"

    def __post_init__(self) -> None:
        if min(self.target_frames, self.source_frames, self.size, self.fps) < 1:
            raise ValueError("target_frames, source_frames, size and fps must be >= 1")


def run_demo(config: DemoConfig) -> MotionTransferReport:
    """Render the two dancers (once), then run (or resume) the transfer workflow on them."""
    out_dir = Path(config.out_dir)
    size = (config.size, config.size)
    footage = {"target": (config.target_frames, 1), "source": (config.source_frames, 2)}
    videos = {}
    for name, (frames, seed) in footage.items():
        path = out_dir / f"{name}.mp4"
        if not path.exists():
            write_dancer_video(path, frames=frames, size=size, fps=config.fps, seed=seed, audio=name == "source")
        videos[name] = path
    transfer = MotionTransferConfig(
        kind="dance", driving=str(videos["source"]), target=str(videos["target"]), out=str(out_dir / "transfer.mp4"),
        preset=config.preset, train=[f"data.size={config.size}", *config.train], runner=config.runner,
        device=config.device, tracking=TrackSettings(what="body"),
    )
    return run_motion_transfer(transfer)
