"""Video I/O throughput, measured side by side in one run on the same file.

Prints our VideoReader's decode fps against a bare PyAV decode loop (goal >= 0.95) and against
cv2.VideoCapture (goal >= 1.0), each read including the opening of the file. The three run in
turn, ``--repeats`` rounds; a ratio is the median of the rounds' ratios (a round's runs are
seconds apart, so load from outside this process shifts them alike). Then what decoding ahead
in a thread gives a caller that takes clips of 16 frames and waits on something else for each
(a GPU model, a disk), and VideoWriter encode fps at 256x256 and 512x512.
Usage: python bench/io.py [VIDEO] [--repeats N] [--clip-ms 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from vidgan.data import synthetic_frames
from vidgan.io import VideoReader, VideoWriter

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "talking_head_pexels.mp4"


def decode_vidgan(path: Path) -> int:
    return sum(1 for _ in VideoReader(path))


def decode_bare_pyav(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for frame in container.decode(stream) if frame.to_ndarray(format="rgb24") is not None)


def decode_opencv(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # same output as the others: RGB
        frames += 1
    capture.release()
    return frames


def decode_clips_for_a_busy_caller(path: Path, prefetch: int, seconds: float) -> int:
    """Frames read in clips of 16 by a caller that waits ``seconds`` per clip (GIL released)."""
    frames = 0
    for clip in VideoReader(path, prefetch=prefetch).clips(16):
        time.sleep(seconds)
        frames += len(clip.frames)
    return frames


def encode(size: int, frames: list[np.ndarray], preset: str) -> int:
    with tempfile.TemporaryDirectory() as folder:
        with VideoWriter(Path(folder) / "bench.mp4", 25, crf=18, preset=preset) as writer:
            writer.write_all(frames)
    return len(frames)


def rate(job, repeats: int) -> float:
    """Median frames per second over ``repeats`` runs."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        frames = job()
        samples.append(frames / (time.perf_counter() - started))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--clip-ms", type=float, default=16.0, help="the busy caller's time per clip of 16")
    parser.add_argument("--encode-frames", type=int, default=120)
    args = parser.parse_args()
    if not args.video.is_file():
        print(f"bench/io.py: {args.video}: no such file (pass a video path)", file=sys.stderr)
        return 2

    jobs = {
        "vidgan VideoReader": lambda: decode_vidgan(args.video),
        "bare PyAV loop": lambda: decode_bare_pyav(args.video),
        "cv2.VideoCapture": lambda: decode_opencv(args.video),
    }
    for job in jobs.values():  # warm the page cache and the libraries
        job()
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(args.repeats):  # interleaved, so machine noise hits all three alike
        for name, job in jobs.items():
            samples[name].append(rate(job, 1))
    print(f"decode {args.video.name} (median of {args.repeats} rounds, RGB uint8 out)")
    for name, values in samples.items():
        print(f"  {name:<20} {statistics.median(values):8.1f} fps")
    ours = samples["vidgan VideoReader"]
    for name, goal in (("bare PyAV loop", 0.95), ("cv2.VideoCapture", 1.0)):
        ratios = [a / b for a, b in zip(ours, samples[name])]
        print(f"  ratio vs {name:<17} {statistics.median(ratios):.3f}  (goal >= {goal}; rounds: "
              f"{min(ratios):.2f}..{max(ratios):.2f})")

    wait = args.clip_ms / 1000
    paired = [(rate(lambda: decode_clips_for_a_busy_caller(args.video, 4, wait), 1),
               rate(lambda: decode_clips_for_a_busy_caller(args.video, 0, wait), 1)) for _ in range(3)]
    ahead, inline = (statistics.median(values) for values in zip(*paired))
    print(f"clips of 16 for a caller busy {args.clip_ms:g} ms per clip: decoding a clip ahead (default) "
          f"{ahead:.1f} fps, in the caller's thread (prefetch=0) {inline:.1f} fps -> {ahead / inline:.2f}x")

    print(f"encode {args.encode_frames} frames, libx264 crf 18")
    for size in (256, 512):
        frames = list(synthetic_frames(args.encode_frames, size, size))
        for preset in ("veryfast", "medium"):
            print(f"  {size}x{size} {preset:<9} {rate(lambda: encode(size, frames, preset), 3):8.1f} fps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
