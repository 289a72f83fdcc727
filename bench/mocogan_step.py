"""Seconds per training iteration of our MoCoGAN at the official defaults, on CPU.

The official defaults (the original code's shapes/actions commands): image batch 32, video
batch 32, 64x64 frames, 16 per video, every 2nd, DCGAN widths 64, instance noise 0.1,
dim_z_content 50, dim_z_motion 10, 2 categories. One iteration = one update of both
discriminators and one of the generator, as one ``batches`` step of the original
``train.py``: compare the printed figure with the original run on the same machine
(``--reference SECONDS`` prints the ratio). Runs the real trainer on
configs/models/mocogan_shapes.yaml (MoCoGAN's shapes data when ../shared/data is there, else
the same clips generated in memory), times ``--iterations`` iterations after one warm-up.

Usage: python bench/mocogan_step.py [--iterations 3] [--threads N] [--reference SECONDS]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from vidgan.config import bundled_config, load_config
from vidgan.train.experiment import ExperimentConfig, run_experiment
from vidgan.train.logger import read_metrics

ROOT = Path(__file__).resolve().parents[1]
CONFIG = bundled_config("configs/models/mocogan_shapes.yaml")
SHAPES = ROOT.parent / "shared" / "data" / "mocogan" / "data" / "shapes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations (after 1 warm-up)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--reference", type=float, help="the original implementation's s/iteration here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = [f"data.root={SHAPES}"] if SHAPES.is_dir() else ["data.format=shapes", "data.count=256"]
    overrides = [*data, f"train.iterations={args.iterations + 1}", "train.log_every=1", "train.device=cpu",
                 "train.sample_every=1000000", "train.checkpoint_every=1000000"]
    config = load_config(ExperimentConfig, CONFIG, overrides)
    with tempfile.TemporaryDirectory() as run:
        run_experiment(config, run)
        rates = [m["it_per_s"] for m in read_metrics(run)][1:]  # the first includes warm-up
    seconds = [1 / rate for rate in rates]
    model, train = config.model, config.train
    print(f"MoCoGAN training step, CPU ({torch.get_num_threads()} torch threads), "
          f"{model['size']}x{model['size']}x{model['video_length']}, image batch {train.batch_size}, "
          f"video batch {train.batch_size}, ngf/ndf {model['ngf']}/{model['ndf']}, data {'strips' if SHAPES.is_dir() else 'generated'}")
    print(f"seconds per iteration: median {statistics.median(seconds):.2f} "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {len(seconds)} iterations)")
    if args.reference:
        print(f"original implementation: {args.reference:.2f} s; ours / original = "
              f"{statistics.median(seconds) / args.reference:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
