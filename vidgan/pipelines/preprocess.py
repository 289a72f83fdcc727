"""``vidgan preprocess IN OUT --task faces|bodies``: a folder of videos -> a training dataset.

Per video: probe -> decode in clips -> detect and track -> keypoints -> smoothing -> crops
(faces aligned to a template, bodies to a stable box) -> the layout of :mod:`vidgan.data.layout`.
Runs in-process (``runner=local``) or on Ray (``runner=ray``: embedded local Ray, or a cluster
through ``address``). Resumable: complete videos are skipped; failures are per video and listed
in ``OUT/report.json``.
"""

from __future__ import annotations

import glob
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from vidgan.errors import InputError
from vidgan.io.atomic import atomic_path, check_output_folder
from vidgan.stages import StageSpec, make_runner
from vidgan.stages.base import Resources
from vidgan.stages.preprocess import ExtractTracks, PreprocessSettings, WriteSamples
from vidgan.stages.probe import ProbeVideos

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".y4m")


@dataclass(frozen=True)
class PreprocessConfig:
    """A preprocessing run (``configs/pipelines/preprocess.yaml``)."""

    inputs: str = ""
    out_dir: str = "out/dataset"
    runner: Literal["local", "ray"] = "local"
    address: str | None = None
    workers: int = 2
    settings: PreprocessSettings = field(default_factory=PreprocessSettings)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


@dataclass(frozen=True)
class PreprocessReport:
    """The outcome of a run: one row per video (``status`` written, done (skipped) or failed)."""

    rows: list[dict[str, Any]]
    seconds: float

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] == "failed"]

    def describe(self) -> str:
        counts = Counter(row["status"] for row in self.rows)
        frames = sum(row["frames"] for row in self.rows if row["status"] == "written")
        rate = frames / self.seconds if self.seconds else 0.0
        return (f"{len(self.rows)} videos: {counts['written']} written, {counts['done']} already complete, "
                f"{counts['failed']} failed; {frames} frames in {self.seconds:.1f} s ({rate:.1f} frames/s)")


def list_videos(inputs: str, exclude: str | Path | None = None) -> list[Path]:
    """Videos named by ``inputs``: a folder (searched recursively), a glob, or a ``.txt`` list;
    none from under the folder ``exclude`` (the run's output: its crops are not new videos)."""
    source = Path(inputs)
    if source.is_dir():
        videos = sorted(p for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    elif source.is_file() and source.suffix.lower() == ".txt":
        lines = [line.strip() for line in source.read_text().splitlines()]
        videos = [(source.parent / line) if not Path(line).is_absolute() else Path(line)
                  for line in lines if line and not line.startswith("#")]
    elif source.is_file():
        videos = [source]
    else:
        videos = sorted(Path(p) for p in glob.glob(inputs, recursive=True))
        if not videos:
            raise InputError(inputs, "no such folder, list file or matching video")
    if exclude is not None:
        skipped = Path(exclude).resolve()
        videos = [video for video in videos if not video.resolve().is_relative_to(skipped)]
    if not videos:
        raise InputError(inputs, f"holds no videos ({', '.join(VIDEO_SUFFIXES)})")
    return videos


def video_ids(videos: list[Path]) -> list[str]:
    """Unique ids: the file stem, with ``-2``, ``-3`` ... when an earlier video (in input order)
    holds it already, whether as its stem or as a numbered one (``a/clip``, ``b/clip`` and
    ``clip-2`` give ``clip``, ``clip-2``, ``clip-2-2``)."""
    taken: set[str] = set()
    ids = []
    for video in videos:
        candidate, number = video.stem, 1
        while candidate in taken:
            number += 1
            candidate = f"{video.stem}-{number}"
        taken.add(candidate)
        ids.append(candidate)
    return ids


def stages(config: PreprocessConfig) -> list[StageSpec]:
    """The pipeline: probe -> extract tracks (actors holding the models) -> write samples.

    Every stage runs as actors: a worker process imports torch, kornia and the models once,
    instead of once per task (seconds each on a small machine)."""
    settings = asdict(config.settings)
    workers = config.workers
    return [
        StageSpec(ProbeVideos, {"out_dir": config.out_dir, "settings": settings}),
        StageSpec(ExtractTracks, {"settings": settings},
                  Resources(num_cpus=1.0, num_gpus=1.0 if config.settings.device.startswith("cuda") else 0.0,
                            batch_size=1, concurrency=workers, stateful=True)),
        StageSpec(WriteSamples, {"out_dir": config.out_dir, "settings": settings},
                  Resources(num_cpus=1.0, batch_size=1, concurrency=workers, stateful=True)),
    ]


def run_preprocess(config: PreprocessConfig, *, log: TextIO | None = None) -> PreprocessReport:
    """Run the pipeline, report progress on ``log`` (default: standard error) and write
    ``OUT/report.json``."""
    log = log or sys.stderr
    check_output_folder(config.out_dir)
    videos = list_videos(config.inputs, exclude=config.out_dir)
    rows = [{"video_id": vid, "source": str(path)} for vid, path in zip(video_ids(videos), videos)]
    started = time.perf_counter()
    results = []
    with make_runner(config.runner, config.address) as runner:
        for row in runner.run(rows, stages(config)):
            results.append(row)
            _print_progress(log, row, results, len(rows), started)
    report = PreprocessReport(sorted(results, key=lambda r: r["video_id"]), time.perf_counter() - started)
    with atomic_path(Path(config.out_dir) / "report.json") as temporary:
        temporary.write_text(json.dumps({"summary": report.describe(), "videos": report.rows}, indent=2))
    return report


def _print_progress(log, row: dict, results: list[dict], total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    frames = sum(r["frames"] for r in results if r["status"] == "written")
    done = len(results)
    rate = frames / elapsed if elapsed else 0.0
    eta = elapsed / done * (total - done)
    what = {"written": f"{row['num_tracks']} tracks, {row['crop_frames']} crops",
            "done": "already complete, skipped", "failed": f"FAILED: {row['error']}"}[row["status"]]
    print(f"[{done}/{total}] {row['video_id']}: {what} | {frames} frames, {rate:.1f} frames/s, "
          f"ETA {eta:.0f} s", file=log, flush=True)
