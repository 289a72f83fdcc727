"""Preprocessing pipeline throughput and memory, measured side by side in one run.

Every configuration runs in a fresh process pinned to a set of cores (CPU affinity, inherited
by Ray's workers), so "1 worker" really has one core and "2 workers" two:
- Ray runner, 1 worker on 1 core / the same stages in a bare in-process loop on 1 core
  (goal >= 0.8), over the whole run (Ray's start-up and the workers' imports included: ~15 s
  on one core) and in steady state (frames of the videos after the first / the time after it);
- Ray runner, 2 workers on 2 cores / 1 worker on 1 core (goal >= 1.7);
- peak RSS of a local run on one clip and on the same clip looped 10 times (goal <= 1.2).
The batch is the four clips listed ``--copies`` times (default 6: 24 videos, 11436 frames, about
9 minutes of work on one core, so that Ray's fixed start-up weighs on the figure about as little as
it does on a real dataset; 3 copies give 0.79 whole where 6 give 0.82).
Usage: python bench/pipeline.py [--frames N] [--copies K]  (default: whole clips)
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
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "videos"
CLIPS = ["single_face.mp4", "talking_head_lp_d3.mp4", "talking_head_lp_d6.mp4", "talking_head_pexels.mp4"]


def bare_loop(config) -> list[tuple[float, int]]:
    """The pipeline's stages called directly, one video at a time: no runner at all.
    ``(seconds since the start, frames)`` of each video as it is done."""
    from vidgan.pipelines.preprocess import list_videos, stages, video_ids
    from vidgan.stages.base import batch_to_rows, rows_to_batch

    started = time.perf_counter()
    built = [spec.build() for spec in stages(config)]
    done = []
    videos = list_videos(config.inputs)
    for video_id, path in zip(video_ids(videos), videos):
        batch = rows_to_batch([{"video_id": video_id, "source": str(path)}])
        for stage in built:
            batch = stage(batch)
        done.append((time.perf_counter() - started, sum(row["frames"] for row in batch_to_rows(batch))))
    return done


def ray_runner(config) -> list[tuple[float, int]]:
    """The pipeline's stages on the runner named in ``config`` (as ``run_preprocess`` runs them),
    Ray's start-up included: ``(seconds since the start, frames)`` of each video as it is done."""
    from vidgan.pipelines.preprocess import list_videos, stages, video_ids
    from vidgan.stages.runner import make_runner

    started = time.perf_counter()
    videos = list_videos(config.inputs)
    rows = [{"video_id": video_id, "source": str(path)} for video_id, path in zip(video_ids(videos), videos)]
    done = []
    with make_runner(config.runner, config.address) as runner:
        for row in runner.run(rows, stages(config)):
            if row["status"] != "written":
                raise RuntimeError(f"{row['video_id']}: {row['error']}")
            done.append((time.perf_counter() - started, row["frames"]))
    return done


class Rates(NamedTuple):
    """Frames/s of a run: whole (start-up included) and steady (after its first video is done)."""

    whole: float
    steady: float


def pinned(job: str, config: dict, cores: set[int]) -> Rates:
    """Rates of ``job`` run in a fresh process pinned to ``cores``."""
    result = subprocess.run([sys.executable, __file__, "--job", job, json.dumps(config)], check=False, capture_output=True,
                            text=True, cwd=ROOT, preexec_fn=lambda: os.sched_setaffinity(0, cores))
    if result.returncode:
        raise RuntimeError(f"{job} on cores {sorted(cores)} failed:\n{result.stderr[-3000:]}")
    done = json.loads(result.stdout.strip().splitlines()[-1])
    (first, _), (last, _) = done[0], done[-1]
    return Rates(sum(f for _, f in done) / last, sum(f for _, f in done[1:]) / (last - first))


def run_job(job: str, config_json: str) -> None:
    from vidgan.pipelines.preprocess import PreprocessConfig
    from vidgan.config import from_dict

    config = from_dict(PreprocessConfig, json.loads(config_json))
    print(json.dumps({"bare_loop": bare_loop, "ray_runner": ray_runner}[job](config)))


def peak_rss_mib(inputs: Path, out_dir: Path) -> float:
    """Peak RSS of a fresh local-runner process preprocessing ``inputs`` (faces)."""
    code = ("import sys; from vidgan.pipelines.preprocess import PreprocessConfig, run_preprocess; "
            "run_preprocess(PreprocessConfig(inputs=sys.argv[1], out_dir=sys.argv[2]), log=open('/dev/null', 'w'))")
    process = subprocess.Popen([sys.executable, "-c", code, str(inputs), str(out_dir)], cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise RuntimeError(f"the memory run on {inputs} failed ({status})")
    return usage.ru_maxrss / 1024


def copy_of(clip: Path, folder: Path, k: int) -> Path:
    """``clip`` under the name ``<stem>_<k><suffix>`` in ``folder`` (a symbolic link)."""
    folder.mkdir(exist_ok=True)
    link = folder / f"{clip.stem}_{k}{clip.suffix}"
    link.symlink_to(clip)
    return link


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
    parser.add_argument("--copies", type=int, default=6,
                        help="each clip listed this many times under other names, a batch of 4 x copies videos "
                             "(default %(default)s)")
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
        listing.write_text("\n".join(str(copy_of(SHARED / c, work / "videos", k)) for k in range(args.copies)
                                     for c in CLIPS))
        base = {"inputs": str(listing), "settings": {"task": "faces", "max_frames": args.frames}}
        rates = {
            "bare loop, 1 core": pinned("bare_loop", {**base, "out_dir": str(work / "bare")}, one),
            "ray 1 worker, 1 core": pinned("ray_runner", {**base, "out_dir": str(work / "ray1"), "runner": "ray",
                                                          "workers": 1}, one),
            "ray 2 workers, 2 cores": pinned("ray_runner", {**base, "out_dir": str(work / "ray2"), "runner": "ray",
                                                            "workers": 2}, two),
        }
        print(f"preprocess faces: {', '.join(CLIPS)} x {args.copies} ({4 * args.copies} videos), "
              f"{args.frames or 'all'} frames each")
        print(f"  {'frames/s':<24} {'whole run':>10} {'steady':>8}   (whole: start-up included; steady: after "
              "the first video is done)")
        for name, rate in rates.items():
            print(f"  {name:<24} {rate.whole:10.1f} {rate.steady:8.1f}")
        bare, ray1, ray2 = rates.values()
        print(f"  ray 1 worker / bare loop   {ray1.whole / bare.whole:.2f} whole, {ray1.steady / bare.steady:.2f} "
              "steady  (goal >= 0.8)")
        print(f"  ray 2 workers / 1 worker   {ray2.whole / ray1.whole:.2f} whole, {ray2.steady / ray1.steady:.2f} "
              "steady  (goal >= 1.7)")
        clip = SHARED / "single_face.mp4"
        looped = loop_video(clip, work / "looped" / "single_face_x10.mp4", 10)
        once, tenfold = peak_rss_mib(clip, work / "mem1"), peak_rss_mib(looped, work / "mem10")
        print(f"peak RSS, local runner: 1 clip ({clip.name}) {once:.0f} MiB, looped 10x {tenfold:.0f} MiB, "
              f"ratio {tenfold / once:.2f}  (goal <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
