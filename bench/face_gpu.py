"""Seconds per iteration and peak memory of the face-editing GPU presets (issue #9).

Each preset (Age-cGAN, TP-GAN at 128 px) trains on its family's synthetic faces at its own
model size, batch and precision, for a few iterations after a warm-up. Age-cGAN is measured in
both of its stages (the conditional GAN, then the encoder). Each phase runs in a fresh process.
On a GPU the memory is CUDA's peak allocated; on CPU (``--device cpu``, minutes per iteration)
it is the process's peak resident memory above what it held before the trainer was built, i.e.
the weights, gradients, optimiser states, activations and a batch of data in host memory (a GPU
adds its CUDA context and cuDNN workspaces on top):

    python bench/face_gpu.py [--device cuda|cpu] [--iterations 10] [configs/models/age_cgan_gpu_128.yaml ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import resource
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


def measure_phase(preset: str, losses: dict, device: str, iterations: int, warmup: int) -> tuple[float, float]:
    """(seconds per iteration, peak GiB) of one phase of ``preset``, in this process."""
    config = load_config(ExperimentConfig, preset)
    data = {"format": "synthetic", "count": 4 * config.train.batch_size}
    train = dataclasses.replace(config.train, iterations=warmup + iterations, log_every=10**9,
                                sample_every=10**9, checkpoint_every=10**9, device=device)
    changed = dataclasses.replace(config, data=data, losses={**config.losses, **losses}, train=train)
    before = resident_gib()
    with tempfile.TemporaryDirectory() as tmp:
        seconds, cuda_peak = build_trainer(changed, Path(tmp) / "run").time_iterations(iterations, warmup)
    if cuda_peak is not None:
        return seconds, cuda_peak
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20 - before


def resident_gib() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(preset: str, device: str, iterations: int, warmup: int) -> list[tuple[str, float, float]]:
    """(phase, seconds per iteration, peak GiB) of each phase of one preset, each in a fresh process."""
    config = load_config(ExperimentConfig, preset)
    results = []
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        for name, losses in phases(config):
            seconds, gib = pool.apply(measure_phase, (preset, losses, device, iterations, warmup))
            results.append((name, seconds, gib))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None,
                        help="default: cuda where there is one; without, the benchmark says so and stops "
                             "(on CPU it takes minutes per iteration: ask with --device cpu)")
    parser.add_argument("--iterations", type=int, default=None, help="timed iterations (default: 10, CPU 1)")
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else None)
    if device is None:
        print("face_gpu: no CUDA device here; run it on a GPU machine, or with --device cpu (minutes)")
        return 0
    iterations = args.iterations or (10 if device == "cuda" else 1)
    warmup = 3 if device == "cuda" else 1
    what = "CUDA peak allocated" if device == "cuda" else "peak resident memory above the idle process"
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else f'cpu, {torch.get_num_threads()} threads'}"
          f"; memory: {what}")
    for preset in args.presets:
        config = load_config(ExperimentConfig, preset)
        for phase, seconds, gib in measure(preset, device, iterations, warmup):
            print(f"{Path(preset).stem:20s} {phase} ({config.model.get('crop_size')} px, batch "
                  f"{config.train.batch_size}, {config.train.amp}): {seconds:.2f} s/iteration = "
                  f"{seconds * 1000 / 60:.1f} min per 1k iterations, peak {gib:.2f} GiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
