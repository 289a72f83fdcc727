"""Seconds per 1k iterations and peak GPU memory of the vid2vid GPU presets (issue #6).

Each preset trains on synthetic-dancer data at its own size, at its most expensive phase (the
longest clip of its curriculum, every coarse-to-fine level) and its precision (bf16), for a
few iterations after a warm-up. Run on a machine with a GPU:

    python bench/vid2vid_gpu.py [--iterations 10] [configs/models/vid2vid_gpu_256.yaml ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import torch

from vidgan.config import load_config
from vidgan.data.dancer import DanceStyle, dancer_keypoints, render_dancer
from vidgan.data.paired_video import write_paired_dataset
from vidgan.keypoints import COCO17, Keypoints
from vidgan.keypoints.align import head_boxes
from vidgan.keypoints.render import render_track
from vidgan.train.experiment import ExperimentConfig, build_trainer

PRESETS = ("configs/models/vid2vid_gpu_256.yaml", "configs/models/vid2vid_gpu_512.yaml")


def synthetic_data(folder: Path, size: int, frames: int) -> None:
    points = dancer_keypoints(frames, (size, size), 24.0, DanceStyle.from_seed(1))
    background = torch.zeros(size, size, 3, dtype=torch.uint8).numpy() + 120
    images = [render_dancer(p, background) for p in points]
    track = Keypoints(points, COCO17, torch.arange(frames).numpy())
    write_paired_dataset(images, render_track(track, (size, size)), folder, face_boxes=head_boxes(track))


def measure(preset: str, iterations: int, warmup: int = 3) -> tuple[float, float, str]:
    """(seconds per iteration, peak GiB, phase) of one preset at its most expensive phase."""
    config = load_config(ExperimentConfig, preset)
    longest = max(length for _, length in config.losses.get("curriculum") or [[0, config.data["clip_length"]]])
    levels = config.model.get("n_scales", 1)
    size = config.data["size"]
    with tempfile.TemporaryDirectory() as tmp:
        synthetic_data(Path(tmp) / "data", size, longest + 8)
        losses = {**config.losses, "curriculum": [[0, longest]], "scales": [[0, levels]]}
        data = {**config.data, "folder": str(Path(tmp) / "data"), "clip_length": longest, "flow": "dis"}
        train = dataclasses.replace(config.train, iterations=warmup + iterations, log_every=10_000,
                                    sample_every=10_000, checkpoint_every=10_000, loader_workers=2)
        trainer = build_trainer(dataclasses.replace(config, data=data, losses=losses, train=train), Path(tmp) / "run")
        seconds, peak = trainer.time_iterations(iterations, warmup)
    phase = f"{size}x{size}, {longest} frames, {levels} levels, batch {config.train.batch_size}, {config.train.amp}"
    return seconds, float("nan") if peak is None else peak, phase


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available() and args.presets == list(PRESETS):
        print("vid2vid_gpu: no CUDA device here; it measures the GPU presets on a GPU machine")
        return 0
    print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}")
    for preset in args.presets:
        seconds, gib, phase = measure(preset, args.iterations)
        print(f"{Path(preset).stem:18s} {phase}: {seconds:.3f} s/iteration = {seconds * 1000 / 60:.1f} min per 1k "
              f"iterations, peak {gib:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
