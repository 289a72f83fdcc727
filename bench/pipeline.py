"""Preprocessing pipeline throughput and memory, measured side by side in one run.

Every configuration runs in a fresh process pinned to a set of cores (CPU affinity, inherited
by Ray's workers), so "1 worker" really has one core and "2 workers" two:
- Ray runner, 1 worker on 1 core / the same stages in a bare in-process loop on 1 core
  (goal >= 0.8; Ray's start-up is included);
- Ray runner, 2 workers on 2 cores / 1 worker on 1 core (goal >= 1.7);
- peak RSS of a local run on one clip and on the same clip looped 10 times (goal <= 1.2).
Usage: python bench/pipeline.py [--frames N]  (default: whole clips)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "videos"
CLIPS = ["single_face.mp4", "talking_head_lp_d3.mp4", "talking_head_lp_d6.mp4", "talking_head_pexels.mp4"]


def bare_loop(config) -> int:
    """The pipeline's stages called directly, one video at a time: no runner at all."""
    from pipelines.preprocess import list_videos, stages, video_ids
    from vidgan.stages.base import batch_to_rows, rows_to_batch

    built = [spec.build() for spec in stages(config)]
    frames = 0
    videos = list_videos(config.inputs)
    for video_id, path in zip(video_ids(videos), videos):
        batch = rows_to_batch([{"video_id": video_id, "source": str(path)}])
        for stage in built:
            batch = stage(batch)
        frames += sum(row["frames"] for row in batch_to_rows(batch))
    return frames


def ray_runner(config) -> int:
    """The pipeline through ``run_preprocess`` (the runner named in ``config``)."""
    from pipelines.preprocess import run_preprocess

    report = run_preprocess(config, log=open(os.devnull, "w"))
    return sum(row["frames"] for row in report.rows if row["status"] == "written")


def pinned(job: str, config: dict, cores: set[int]) -> float:
    """Frames/s of ``job`` run in a fresh process pinned to ``cores``."""
    result = subprocess.run([sys.executable, __file__, "--job", job, json.dumps(config)], capture_output=True,
                            text=True, cwd=ROOT, preexec_fn=lambda: os.sched_setaffinity(0, cores))
    if result.returncode:
        raise RuntimeError(f"{job} on cores {sorted(cores)} failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def run_job(job: str, config_json: str) -> None:
    from pipelines.preprocess import PreprocessConfig
    from vidgan.config import from_dict

    config = from_dict(PreprocessConfig, json.loads(config_json))
    started = time.perf_counter()
    frames = {"bare_loop": bare_loop, "ray_runner": ray_runner}[job](config)
    print(frames / (time.perf_counter() - started))


def peak_rss_mib(inputs: Path, out_dir: Path) -> float:
    """Peak RSS of a fresh local-runner process preprocessing ``inputs`` (faces)."""
    code = ("import sys; from pipelines.preprocess import PreprocessConfig, run_preprocess; "
            "run_preprocess(PreprocessConfig(inputs=sys.argv[1], out_dir=sys.argv[2]), log=open('/dev/null', 'w'))")
    process = subprocess.Popen([sys.executable, "-c", code, str(inputs), str(out_dir)], cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise RuntimeError(f"the memory run on {inputs} failed ({status})")
    return usage.ru_maxrss / 1024


def loop_video(source: Path, target: Path, times: int) -> Path:
    from vidgan.io import VideoReader, VideoWriter

    reader = VideoReader(source)
    with VideoWriter(target, reader.info.fps, crf=18, preset="veryfast") as writer:
        for _ in range(times):
            writer.write_all(reader)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=None, help="frames per video (default: all)")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("config", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.job:
        run_job(args.job, args.config)
        return 0
    missing = [c for c in CLIPS if not (SHARED / c).is_file()]
    cores = sorted(os.sched_getaffinity(0))
    if missing or len(cores) < 2:
        print(f"bench/pipeline.py: needs 2 cores and {SHARED}/{{{','.join(CLIPS)}}}", file=sys.stderr)
        return 2
    one, two = {cores[0]}, set(cores[:2])
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        listing = work / "videos.txt"
        listing.write_text("\n".join(str(SHARED / c) for c in CLIPS))
        base = {"inputs": str(listing), "settings": {"task": "faces", "max_frames": args.frames}}
        rates = {
            "bare loop, 1 core": pinned("bare_loop", {**base, "out_dir": str(work / "bare")}, one),
            "ray 1 worker, 1 core": pinned("ray_runner", {**base, "out_dir": str(work / "ray1"), "runner": "ray",
                                                          "workers": 1}, one),
            "ray 2 workers, 2 cores": pinned("ray_runner", {**base, "out_dir": str(work / "ray2"), "runner": "ray",
                                                            "workers": 2}, two),
        }
        print(f"preprocess faces: {', '.join(CLIPS)}, {args.frames or 'all'} frames each; Ray start-up included")
        for name, rate in rates.items():
            print(f"  {name:<24} {rate:7.1f} frames/s")
        print(f"  ray 1 worker / bare loop   {rates['ray 1 worker, 1 core'] / rates['bare loop, 1 core']:.2f}"
              "  (goal >= 0.8)")
        print(f"  ray 2 workers / 1 worker   {rates['ray 2 workers, 2 cores'] / rates['ray 1 worker, 1 core']:.2f}"
              "  (goal >= 1.7)")
        clip = SHARED / "single_face.mp4"
        looped = loop_video(clip, work / "looped" / "single_face_x10.mp4", 10)
        once, tenfold = peak_rss_mib(clip, work / "mem1"), peak_rss_mib(looped, work / "mem10")
        print(f"peak RSS, local runner: 1 clip ({clip.name}) {once:.0f} MiB, looped 10x {tenfold:.0f} MiB, "
              f"ratio {tenfold / once:.2f}  (goal <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
