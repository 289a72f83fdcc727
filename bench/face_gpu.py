"""Seconds per 1k iterations and peak GPU memory of the face-editing GPU presets (issue #9).

Each preset (Age-cGAN, TP-GAN at 128 px) trains on its family's synthetic faces at its own
model size, batch and precision, for a few iterations after a warm-up. Age-cGAN is timed in both
of its stages (the conditional GAN, then the encoder). Run on a machine with a GPU:

    python bench/face_gpu.py [--iterations 10] [configs/models/age_cgan_gpu_128.yaml ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import torch

from vidgan.config import load_config
from vidgan.train.experiment import ExperimentConfig, build_trainer

PRESETS = ("configs/models/age_cgan_gpu_128.yaml", "configs/models/tpgan_gpu_128.yaml")


def phases(config: ExperimentConfig) -> list[tuple[str, dict]]:
    """(name, loss overrides) of each training phase worth timing."""
    if config.family == "age_cgan":
        return [("cGAN stage", {"encoder_start": 10**9}), ("encoder stage", {"encoder_start": 0})]
    return [("training", {})]


def measure(preset: str, iterations: int, warmup: int = 3) -> list[tuple[str, float, float | None]]:
    """(phase, seconds per iteration, peak GiB or None off CUDA) of each phase of one preset."""
    config = load_config(ExperimentConfig, preset)
    results = []
    for name, losses in phases(config):
        data = {"format": "synthetic", "count": 4 * config.train.batch_size}
        train = dataclasses.replace(config.train, iterations=warmup + iterations, log_every=10**9,
                                    sample_every=10**9, checkpoint_every=10**9, device="auto")
        changed = dataclasses.replace(config, data=data, losses={**config.losses, **losses}, train=train)
        with tempfile.TemporaryDirectory() as tmp:
            seconds, peak = build_trainer(changed, Path(tmp) / "run").time_iterations(iterations, warmup)
        results.append((name, seconds, peak))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available() and args.presets == list(PRESETS):
        print("face_gpu: no CUDA device here; it measures the GPU presets on a GPU machine")
        return 0
    print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}")
    for preset in args.presets:
        config = load_config(ExperimentConfig, preset)
        for phase, seconds, gib in measure(preset, args.iterations):
            memory = "n/a on CPU" if gib is None else f"{gib:.1f} GiB"
            print(f"{Path(preset).stem:20s} {phase} ({config.model.get('crop_size')} px, batch "
                  f"{config.train.batch_size}, {config.train.amp}): {seconds:.3f} s/iteration = "
                  f"{seconds * 1000 / 60:.1f} min per 1k iterations, peak {memory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
