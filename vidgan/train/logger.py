"""What a training run writes besides checkpoints: TensorBoard scalars and image grids,
``metrics.jsonl`` (one line of losses per logged step), sample videos, a console progress bar.

Only rank 0 logs. Sample videos are mp4 files under ``samples/`` (TensorBoard's ``add_video``
needs moviepy, which vidgan does not depend on); their first frames go to TensorBoard as a grid.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from vidgan.io.images import write_image
from vidgan.io.writer import VideoWriter
from vidgan.nn.images import grid_frames
from vidgan.progress import progress

METRICS_FILE = "metrics.jsonl"


class RunLogger:
    """Logs of one run folder; a no-op on ranks other than 0."""

    def __init__(self, run_dir: Path, *, enabled: bool, total: int, start: int, fps: int = 8) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self.fps = fps
        self._writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start) if enabled else None
        self._bar = progress(total=total, desc="train", unit="it") if enabled else None
        if self._bar is not None:
            self._bar.update(start)
        self._last = (start, time.perf_counter())
        if enabled:
            self._truncate_metrics(start)

    def scalars(self, iteration: int, values: dict[str, float]) -> None:
        """Losses and rates of generator iteration ``iteration`` (1-based count of updates done)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        done, since = self._last
        rate = (iteration - done) / max(now - since, 1e-9)
        self._last = (iteration, now)
        record = {"iteration": iteration, **{k: float(v) for k, v in values.items()}, "it_per_s": rate}
        for key, value in record.items():
            if key != "iteration":
                self._writer.add_scalar(key, value, iteration)
        with open(self.run_dir / METRICS_FILE, "a") as stream:
            stream.write(json.dumps(record) + "\n")
        self._bar.set_postfix({k: f"{v:.3g}" for k, v in values.items() if k.startswith("loss")}, refresh=False)

    def advance(self, iterations: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(iterations)

    def samples(self, iteration: int, samples: torch.Tensor) -> Path | None:
        """A grid of generated images ``(B, C, H, W)`` (PNG) or clips ``(B, T, C, H, W)`` (mp4)
        in [-1, 1]: written under ``samples/`` and shown in TensorBoard."""
        if not self.enabled:
            return None
        frames = grid_frames(samples)
        self._writer.add_image("samples", frames[0], iteration, dataformats="HWC")
        folder = self.run_dir / "samples"
        if samples.dim() == 5:
            path = folder / f"iteration_{iteration:07d}.mp4"
            with VideoWriter(path, self.fps, crf=18, preset="veryfast") as writer:
                writer.write_all(frames)
        else:
            path = folder / f"iteration_{iteration:07d}.png"
            write_image(path, frames[0])
        return path

    def message(self, text: str) -> None:
        """A line on the console (above the bar) and in ``train.log``."""
        if not self.enabled:
            return
        self._bar.write(text)
        with open(self.run_dir / "train.log", "a") as stream:
            stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def close(self) -> None:
        if self.enabled:
            self._writer.close()
            self._bar.close()

    def _truncate_metrics(self, start: int) -> None:
        """On resume, drop the lines logged after the checkpoint (they will be logged again)."""
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return
        kept = [line for line in path.read_text().splitlines() if json.loads(line)["iteration"] <= start]
        temporary = path.with_suffix(".tmp")
        temporary.write_text("".join(line + "\n" for line in kept))
        os.replace(temporary, path)


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The ``metrics.jsonl`` records of a run folder, in order."""
    path = Path(run_dir) / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
