"""Preprocessing pipeline throughput and memory, measured side by side in one run.

Prints: frames/s of the Ray runner (1 worker) / the same stages in a bare in-process loop
(goal >= 0.8), Ray with 2 workers / 1 worker (goal >= 1.7 on 2 cores), and the peak RSS of a
run on one clip and on the same clip looped 10 times (goal <= 1.2: memory flat in length).
Usage: python bench/pipeline.py [--videos N] [--frames N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.preprocess import PreprocessConfig, list_videos, run_preprocess, stages, video_ids  # noqa: E402
from vidgan.io import VideoReader, VideoWriter  # noqa: E402
from vidgan.stages.base import batch_to_rows, rows_to_batch  # noqa: E402
from vidgan.stages.preprocess import PreprocessSettings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "videos"
CLIPS = ["single_face.mp4", "talking_head_lp_d3.mp4", "talking_head_lp_d6.mp4", "talking_head_pexels.mp4"]


def bare_loop(config: PreprocessConfig) -> int:
    """The pipeline's stages called directly, one video at a time: no runner at all."""
    built = [spec.build() for spec in stages(config)]
    frames = 0
    videos = list_videos(config.inputs)
    for video_id, path in zip(video_ids(videos), videos):
        batch = rows_to_batch([{"video_id": video_id, "source": str(path)}])
        for stage in built:
            batch = stage(batch)
        frames += sum(row["frames"] for row in batch_to_rows(batch))
    return frames


def timed(job) -> float:
    """Frames per second of ``job() -> frames``."""
    started = time.perf_counter()
    frames = job()
    return frames / (time.perf_counter() - started)


def peak_rss_mib(inputs: Path, out_dir: Path) -> float:
    """Peak RSS of a fresh local-runner process preprocessing ``inputs`` (faces, no frame cap)."""
    code = ("import sys; from pipelines.preprocess import PreprocessConfig, run_preprocess; "
            "run_preprocess(PreprocessConfig(inputs=sys.argv[1], out_dir=sys.argv[2]), log=open('/dev/null', 'w'))")
    process = subprocess.Popen([sys.executable, "-c", code, str(inputs), str(out_dir)], cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise RuntimeError(f"the memory run on {inputs} failed ({status})")
    return usage.ru_maxrss / 1024


def loop_video(source: Path, target: Path, times: int) -> Path:
    reader = VideoReader(source)
    with VideoWriter(target, reader.info.fps, crf=18, preset="veryfast") as writer:
        for _ in range(times):
            writer.write_all(reader)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=96, help="frames per video (max_frames)")
    args = parser.parse_args()
    missing = [c for c in CLIPS if not (SHARED / c).is_file()]
    if missing:
        print(f"bench/pipeline.py: {SHARED}: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        listing = work / "videos.txt"
        listing.write_text("\n".join(str(SHARED / c) for c in CLIPS))
        base = PreprocessConfig(inputs=str(listing), settings=PreprocessSettings(task="faces", max_frames=args.frames))
        quiet = open(os.devnull, "w")
        rates = {
            "bare loop": timed(lambda: bare_loop(replace(base, out_dir=str(work / "bare")))),
            "ray, 1 worker": timed(lambda: _frames(run_preprocess(
                replace(base, out_dir=str(work / "ray1"), runner="ray", workers=1), log=quiet))),
            "ray, 2 workers": timed(lambda: _frames(run_preprocess(
                replace(base, out_dir=str(work / "ray2"), runner="ray", workers=2), log=quiet))),
        }
        print(f"preprocess faces: {len(CLIPS)} clips x {args.frames} frames (Ray start-up included)")
        for name, rate in rates.items():
            print(f"  {name:<16} {rate:7.1f} frames/s")
        print(f"  ray 1 worker / bare loop   {rates['ray, 1 worker'] / rates['bare loop']:.2f}  (goal >= 0.8)")
        print(f"  ray 2 workers / 1 worker   {rates['ray, 2 workers'] / rates['ray, 1 worker']:.2f}  (goal >= 1.7)")

        clip = SHARED / "single_face.mp4"
        looped = loop_video(clip, work / "looped" / "single_face_x10.mp4", 10)
        once = peak_rss_mib(clip, work / "mem1")
        tenfold = peak_rss_mib(looped, work / "mem10")
        print(f"peak RSS, local runner: 1 clip ({clip.name}) {once:.0f} MiB, looped 10x {tenfold:.0f} MiB, "
              f"ratio {tenfold / once:.2f}  (goal <= 1.2)")
    return 0


def _frames(report) -> int:
    return sum(row["frames"] for row in report.rows if row["status"] == "written")


if __name__ == "__main__":
    sys.exit(main())
