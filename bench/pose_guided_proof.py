"""The PG2 proof of issue #7: pose-guided generation trained on one dancer, scored on unseen poses.

1. ``vidgan preprocess`` (bodies) turns dance_musepose.mp4 into the dataset layout (square body
   crops + keypoints), once;
2. configs/models/pose_guided_cpu_small.yaml trains on pairs of its first 200 frames (128x64, at
   least 4 frames apart) within the budget (:data:`BUDGET`: at most 15 minutes of training with
   one torch thread, 1000 iterations at most: stage I for 600, then stage II);
3. :data:`PAIRS` pairs drawn (seeded) from the last 80 frames, at least 8 frames apart, are scored
   for the identity baseline (the condition image returned), stage I and stage II: SSIM,
   mask-SSIM, LPIPS (when its weights are on local disk) and PCK@0.2 of re-extracted poses.

Goals: SSIM and mask-SSIM of stage II above those of stage I and of the identity baseline.
Every step is reused by a second run with the same settings (``OUT/steps.json``).

    python bench/pose_guided_proof.py [--out out/pose_guided_proof] [key=value overrides of the config]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from vidgan.pipelines.preprocess import PreprocessConfig, run_preprocess
from vidgan.pipelines.workspace import Workspace, file_digest
from vidgan.config import bundled_config, load_config
from vidgan.data.pose_pairs import PosePairDataset
from vidgan.io import probe
from vidgan.keypoints.extract import ExtractSettings, FrameKeypointer
from vidgan.models.pose_guided import PoseGuidedGenerator
from vidgan.train.experiment import ExperimentConfig, run_experiment
from vidgan.train.recipes.pose_guided import evaluate_pairs, lpips_or_none

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "data" / "videos" / "dance_musepose.mp4"
CONFIG = bundled_config("configs/models/pose_guided_cpu_small.yaml")
TRAIN_FRAMES = (0, 200)
TEST_FRAMES = 80
PAIRS = 100
TEST_MIN_GAP = 8
BUDGET = ("at most 15 minutes of training (train.minutes) with one torch thread and 1000 iterations at batch 8 "
          "(600 of stage I)")
ROWS = (("identity", "identity (condition image)"), ("stage1", "stage I"), ("stage2", "stage II"),
        ("real", "real target (PCK reference)"))
COLUMNS = ("ssim", "mask_ssim", "lpips", "pck@0.2")


def run_proof(out_dir: str | Path, overrides: list[str] = ()) -> dict[str, dict[str, float]]:
    """Run (or reuse) every step into ``out_dir`` and return the scores per row."""
    torch.set_num_threads(1)
    workspace = Workspace(Path(out_dir).resolve())  # the same steps from any working directory
    preprocess = load_config(PreprocessConfig, None, [f"inputs={VIDEO}", f"out_dir={workspace.path('dataset')}",
                                                       "runner=local", "settings.task=bodies"])
    workspace.step("dataset", {"video": file_digest(VIDEO), "settings": asdict(preprocess)}, ["dataset/videos"],
                   lambda: run_preprocess(preprocess))
    experiment = load_config(ExperimentConfig, CONFIG, [f"data.root={workspace.path('dataset')}",
                                                        f"data.frames=[{TRAIN_FRAMES[0]}, {TRAIN_FRAMES[1]}]",
                                                        *overrides])
    workspace.step("train", {"dataset": asdict(preprocess), "experiment": asdict(experiment)}, ["train/model"],
                   lambda: run_experiment(experiment, workspace.path("train"), resume=False))

    def evaluate() -> None:
        model = PoseGuidedGenerator.from_pretrained(workspace.path("train/model"))
        frames = probe(VIDEO).frames
        test = PosePairDataset.from_layout(workspace.path("dataset"), model.size, model.skeleton,
                                           frames=(frames - TEST_FRAMES, frames), min_gap=TEST_MIN_GAP)
        pairs = np.random.default_rng(0).choice(len(test), size=min(PAIRS, len(test)), replace=False)
        keypointer = FrameKeypointer(ExtractSettings(what="body"))
        scores = evaluate_pairs(model, test, np.sort(pairs), lpips=lpips_or_none(), keypointer=keypointer)
        workspace.path("scores.json").write_text(json.dumps(scores, indent=2))

    workspace.step("evaluate", {"experiment": asdict(experiment), "pairs": PAIRS,
                                "model": file_digest(workspace.path("train/model/model.safetensors"))},
                   ["scores.json"], evaluate)
    return json.loads(workspace.path("scores.json").read_text())


def training_summary(out_dir: str | Path) -> str:
    """How much training the run got: iterations (of them, stage II) and seconds."""
    from vidgan.train.logger import read_metrics

    workspace = Workspace(out_dir)
    iterations = read_metrics(workspace.path("train"))[-1]["iteration"]
    stage_one = load_config(ExperimentConfig, workspace.path("train/config.yaml")).losses["stage1_iterations"]
    seconds = workspace.seconds("train")
    return (f"trained {iterations} iterations ({max(0, iterations - stage_one)} of stage II)"
            + (f" in {seconds:.0f} s" if seconds is not None else ""))


def goals(scores: dict[str, dict[str, float]]) -> list[tuple[str, bool]]:
    """(goal, met) of the issue: stage II above stage I and the identity baseline in SSIM and mask-SSIM."""
    rows = []
    for metric in ("ssim", "mask_ssim"):
        two = scores["stage2"][metric]
        for other in ("stage1", "identity"):
            rows.append((f"{metric}: stage II {two:.4f} > {other} {scores[other][metric]:.4f}",
                         two > scores[other][metric]))
    return rows


def table(scores: dict[str, dict[str, float]]) -> str:
    """The scores as a fixed-width table (n/a where a metric was not measured)."""
    lines = [f"{'':30s}" + "".join(f"{c:>11s}" for c in COLUMNS)]
    for key, label in ROWS:
        if key not in scores:
            continue
        cells = [scores[key].get(column, math.nan) for column in COLUMNS]
        lines.append(f"{label:30s}" + "".join(f"{v:11.4f}" if math.isfinite(v) else f"{'n/a':>11s}" for v in cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/pose_guided_proof")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train.minutes=5")
    args = parser.parse_args()
    started = time.perf_counter()
    scores = run_proof(args.out, args.overrides)
    print(f"== PG2 on dance_musepose.mp4: trained on frames {TRAIN_FRAMES[0]}:{TRAIN_FRAMES[1]}, "
          f"{PAIRS} pairs of the last {TEST_FRAMES} frames; budget: {BUDGET} ({time.perf_counter() - started:.0f} s)")
    print(training_summary(args.out))
    print(table(scores))
    rows = goals(scores)
    for goal, met in rows:
        print(f"  {goal}: {'met' if met else 'NOT MET'}")
    return 0 if all(met for _, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
