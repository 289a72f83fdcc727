"""The face-editing proof of issue #9: Age-cGAN and TP-GAN trained for a short CPU budget, then
applied to talking_head_pexels.mp4 with the video smoothing on and off.

1. training faces: ``vidgan preprocess --task faces`` of three other talking-head clips of
   ../shared/data/videos (talking_head_lp_d3, talking_head_lp_d6, single_face), into
   ``OUT/faces`` (reused when complete);
2. Age-cGAN (configs/models/age_cgan_cpu_small.yaml, narrowed by :data:`BUDGETS`) on those
   tracks, each video given one age (:data:`AGES`: the clips carry no age labels, so these
   stand-in labels exercise the method, not its aging quality); TP-GAN
   (configs/models/tpgan_cpu_small.yaml) on the same crops turned by synthetic yaw rotations.
   Runs in ``OUT/age_cgan`` and ``OUT/tpgan`` resume, and are found done on a second call;
3. each model edits frames :data:`FRAMES` of talking_head_pexels.mp4 (not seen in training) with
   smoothing on and off (``vidgan.pipelines.face_edit``). Figures per model and setting: the largest
   change of any pixel outside the paste mask (must be 0: the original frame is kept exactly),
   and the temporal flicker inside the face region: the warping error of the edited frames
   (L1, 0..1) along the input video's DIS flow with its occlusion check, pixels where the mask
   exceeds 0.5 (the input's own figure beside it). Goal: flicker lower with smoothing than
   without. Figures go to ``OUT/proof.json``; edited videos to ``OUT/pexels_<model>_<on|off>.mp4``.

Usage: python bench/face_edit_proof.py [--out runs/face_proof] [--minutes 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidgan.pipelines.face_edit import FaceEditConfig, edit_frames, load_editor
from vidgan.pipelines.preprocess import PreprocessConfig, run_preprocess
from vidgan.config import load_config
from vidgan.io import VideoWriter, probe
from vidgan.metrics import warping_error
from vidgan.stages.preprocess import PreprocessSettings
from vidgan.train.experiment import ExperimentConfig, run_experiment
from vidgan.train.logger import read_metrics

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
TRAINING_VIDEOS = ("talking_head_lp_d3.mp4", "talking_head_lp_d6.mp4", "single_face.mp4")
#: Stand-in ages of the training clips (they have no labels): young, middle, old groups.
AGES = {"talking_head_lp_d3": 25, "talking_head_lp_d6": 45, "single_face": 65}
TEST_VIDEO = VIDEOS / "talking_head_pexels.mp4"
FRAMES = "0:120"
TARGET_AGE = 65
#: Per model: its preset and the overrides that set the CPU budget.
BUDGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "age_cgan": ("configs/models/age_cgan_cpu_small.yaml",
                 ("train.iterations=1200", "losses.encoder_start=800", "train.batch_size=32",
                  "train.checkpoint_every=100", "train.sample_every=500")),
    "tpgan": ("configs/models/tpgan_cpu_small.yaml",
              ("train.iterations=600", "train.batch_size=8", "train.checkpoint_every=100",
               "train.sample_every=500")),
}


def face_dataset(out: Path) -> Path:
    """The preprocessed face tracks of the training clips (``OUT/faces``)."""
    listing = out / "training_videos.txt"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(f"{VIDEOS / name}\n" for name in TRAINING_VIDEOS))
    dataset = out / "faces"
    report = run_preprocess(PreprocessConfig(inputs=str(listing), out_dir=str(dataset),
                                             settings=PreprocessSettings(task="faces", crop_size=128)))
    if report.failures:
        raise RuntimeError(f"preprocessing failed: {report.failures}")
    return dataset


def train(name: str, out: Path, dataset: Path, minutes: float) -> Path:
    """Train (or resume, or find done) model ``name`` within ``minutes``; its run folder."""
    preset, overrides = BUDGETS[name]
    data = {"age_cgan": ["data.format=layout", f"data.root={dataset}", f"data.csv={ages_csv(out)}"],
            "tpgan": ["data.format=layout", f"data.root={dataset}"]}[name]
    config = load_config(ExperimentConfig, preset, [*overrides, *data, f"train.minutes={minutes}"])
    run = out / name
    run_experiment(config, run)
    return run


def ages_csv(out: Path) -> Path:
    """The ``video,age`` CSV of the stand-in ages."""
    path = out / "ages.csv"
    path.write_text("video,age\n" + "".join(f"{video},{age}\n" for video, age in AGES.items()))
    return path


def measure(name: str, run: Path, out: Path) -> dict[str, Any]:
    """Edit the test clip with ``run``'s model, smoothing on and off: the figures of each."""
    edit = "age" if name == "age_cgan" else "frontalize"
    base = FaceEditConfig(input=str(TEST_VIDEO), out="unused", model=str(run), edit=edit, target_age=TARGET_AGE,
                          frames=FRAMES, device="cpu")
    editor = load_editor(base)
    figures: dict[str, Any] = {}
    for setting, smooth in (("off", False), ("on", True)):
        started = time.perf_counter()
        originals, edited, masks = (np.stack(a) for a in zip(*edit_frames(replace(base, smooth=smooth), editor)))
        seconds = time.perf_counter() - started
        outside = masks == 0
        face = masks > 0.5
        with VideoWriter(out / f"pexels_{name}_{setting}.mp4", probe(TEST_VIDEO).fps, crf=18) as writer:
            writer.write_all(edited)
        figures[setting] = {
            "frames": len(edited),
            "outside_mask_share": round(float(outside.mean()), 4),
            "outside_mask_max_change": int(np.abs(edited.astype(int) - originals.astype(int))[outside].max()),
            "flicker": round(warping_error(edited, flow_from=originals, region=face), 5),
            "input_flicker": round(warping_error(originals, flow_from=originals, region=face), 5),
            "seconds": round(seconds, 1),
        }
    return figures


def describe(name: str, figures: dict[str, Any]) -> str:
    off, on = figures["off"], figures["on"]
    exact = on["outside_mask_max_change"] == 0 and off["outside_mask_max_change"] == 0
    lower = on["flicker"] < off["flicker"]
    return "\n".join([
        f"{name}: {figures['training']}",
        (f"  {on['frames']} frames of {TEST_VIDEO.name} ({FRAMES}); outside the face mask "
         f"({on['outside_mask_share']:.1%} of the pixels) the largest change is {off['outside_mask_max_change']} "
         f"(off) / {on['outside_mask_max_change']} (on) -> kept exactly: {'met' if exact else 'NOT met'}"),
        (f"  flicker in the face region (warping error, input's own {on['input_flicker']:.5f}): smoothing off "
         f"{off['flicker']:.5f}, on {on['flicker']:.5f} -> lower with smoothing: {'met' if lower else 'NOT met'}"),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "runs" / "face_proof"), help="runs and videos go here")
    parser.add_argument("--minutes", type=float, default=30,
                        help="cap on each model's training time (default %(default)s); the budget is in iterations")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default %(default)s)")
    parser.add_argument("--models", default="age_cgan,tpgan", help="which models (default %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    dataset = face_dataset(out)
    met, results = True, {}
    for name in args.models.split(","):
        started = time.perf_counter()
        run = train(name, out, dataset, args.minutes)
        trained = json.loads((run / "model" / "config.json").read_text())
        figures = measure(name, run, out)
        metrics = read_metrics(run)
        minutes = sum((m["iteration"] - p["iteration"]) / m["it_per_s"]
                      for p, m in zip([{"iteration": 0}, *metrics], metrics)) / 60
        figures["training"] = (f"{BUDGETS[name][0]}, {metrics[-1]['iteration']} iterations in {minutes:.1f} min "
                               f"(cap {args.minutes:g}) on {torch.get_num_threads()} CPU threads, "
                               f"crop {trained['args']['crop_size']} px")
        results[name] = figures
        print(describe(name, figures) + f"\n  (this call: {time.perf_counter() - started:.0f} s)", flush=True)
        met &= figures["on"]["flicker"] < figures["off"]["flicker"]
        met &= figures["on"]["outside_mask_max_change"] == 0 == figures["off"]["outside_mask_max_change"]
    (out / "proof.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
