"""The video-GAN proof of issue #8: train MoCoGAN and DVD-GAN on MoCoGAN's shape-motion data
(64x64x16) within a stated CPU budget, then track the shape in 200 sampled videos.

For each family: the shapes preset (configs/models/<family>_shapes.yaml) narrowed by
:data:`PROOFS` (the budget: widths, batch, iterations) trains into ``OUT/<family>_shapes`` (a
second run resumes and finds it done). Then 200 videos are sampled, 100 per class with
``category=`` given, and :mod:`vidgan.metrics.shape_tracking` measures the share holding one
connected shape of constant colour and the share moving in their class's direction; the same
tracker on 200 real clips is printed beside them. Figures go to ``proof.json`` and sample grids
(``class_<k>.mp4``, ``fixed_content.mp4``, ``fixed_motion.mp4``) into the run folder.
``--actions`` also trains MoCoGAN on the Weizmann action strips at 64x64 for a short budget and
writes its sample videos (one grid per action, fixed content, fixed motion) to its run folder.

``--set KEY=VALUE ...`` overrides the budget (applied after :data:`PROOFS`'), e.g. the paper's
widths for a bounded time on a GPU: ``--device cuda --set model.ngf=64 model.ndf=64
train.batch_size=32 train.iterations=100000 train.minutes=5`` (use another ``--out``: a run
folder resumes with its own settings). Sampling and tracking run on the training device.

Usage: python bench/video_gan_proof.py [--family mocogan|dvdgan|all] [--actions] [--out runs/proof]
       [--threads 1] [--device cpu] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from vidgan.config import load_config
from vidgan.data.video_datasets import ClipData, build_clip_dataset
from vidgan.metrics.shape_tracking import ShapeMotionScores, shape_motion_scores
from vidgan.models.mocogan import MoCoGAN
from vidgan.models.video_gan import VideoGAN, load_video_model
from vidgan.nn.images import write_video_grid
from vidgan.train.experiment import ExperimentConfig, run_experiment
from vidgan.train.logger import read_metrics

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 200
GOAL = 0.9
#: Torch threads: on the shared 2-core machine one thread ran MoCoGAN's step 5x faster than two.
THREADS = 1


class Proof(NamedTuple):
    """One family's proof run: its preset, the overrides that set the CPU budget, and why."""

    config: str
    overrides: tuple[str, ...]
    budget: str


PROOFS: dict[str, Proof] = {
    "mocogan": Proof(
        "configs/models/mocogan_shapes.yaml",
        ("model.ngf=16", "model.ndf=16", "train.batch_size=16", "train.iterations=4000", "train.sample_every=500",
         "train.checkpoint_every=500", "train.keep_checkpoints=10", "train.log_every=50"),
        "4000 iterations, image and video batches of 16, ngf = ndf = 16 (the paper's 64)",
    ),
    "dvdgan": Proof(
        "configs/models/dvdgan_shapes.yaml",
        ("model.ch=8", "model.attention_resolution=16", "train.batch_size=8", "train.iterations=100",
         "train.ema_decay=0", "train.sample_every=100", "train.checkpoint_every=50", "train.keep_checkpoints=10",
         "train.log_every=50"),
        "100 iterations, batch 8, ch = 8, self-attention at 16x16",
    ),
    "actions": Proof(
        "configs/models/mocogan_actions.yaml",
        ("model.ngf=16", "model.ndf=16", "train.batch_size=16", "train.iterations=150", "train.sample_every=50",
         "train.checkpoint_every=50", "train.log_every=50"),
        "150 iterations, batches of 16, ngf = ndf = 16",
    ),
}


def train(
    name: str, out: Path, device: str = "cpu", extra: Sequence[str] = ()
) -> tuple[VideoGAN, Path, ExperimentConfig]:
    """Train (or resume, or find done) proof ``name`` (its budget, then ``extra`` overrides) into
    ``out/<name>``; the model (on ``device``), its run folder and its config."""
    proof = PROOFS[name]
    config = load_config(ExperimentConfig, proof.config, [*proof.overrides, f"train.device={device}", *extra])
    config.data["root"] = str((ROOT / config.data["root"]).resolve())
    run = out / (name if name == "actions" else f"{name}_shapes")
    run_experiment(config, run)
    return load_video_model(run, device), run, config


def prove(
    family: str, out: str | Path, threads: int = THREADS, device: str = "cpu", extra: Sequence[str] = ()
) -> dict[str, Any]:
    """Train ``family`` on the shapes within its budget (``extra`` overrides it) on ``device`` and
    measure 200 samples; the figures."""
    torch.set_num_threads(threads)
    out = Path(out)
    model, run, config = train(family, out, device, extra)
    metrics = read_metrics(run)
    seconds = sum(1 / m["it_per_s"] * (m["iteration"] - p["iteration"]) for p, m in zip([{"iteration": 0}, *metrics],
                                                                                       metrics))
    curve = {int(folder.name.split("_")[1]): measure(load_video_model(folder / "model", device))
             for folder in sorted((run / "checkpoints").glob("iteration_*"))}
    figures = {
        "family": family,
        "budget": PROOFS[family].budget + "".join(f", {override}" for override in extra),
        "iterations": max(curve, default=0),  # the last checkpoint: train.minutes may stop it early
        "train_seconds": round(seconds, 1),
        "device": str(model.device),
        "threads": torch.get_num_threads(),
        "classes": model.num_classes,
        "generated": measure(model).__dict__,
        "real": real_scores(config).__dict__,
        "curve": {iteration: [scores.constant_shape, scores.direction] for iteration, scores in curve.items()},
    }
    write_grids(model, run, torch.Generator().manual_seed(2024))
    (run / "proof.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def measure(model: VideoGAN) -> ShapeMotionScores:
    """The tracker on ``SAMPLES`` sampled videos, classes cycling (given as ``category``)."""
    generator = torch.Generator().manual_seed(2024)
    categories = torch.arange(SAMPLES) % model.num_classes
    videos = torch.cat([model.sample(len(chunk), category=chunk, generator=generator) for chunk in categories.split(50)])
    return shape_motion_scores(videos, categories)


def real_scores(config: ExperimentConfig) -> ShapeMotionScores:
    """The tracker on ``SAMPLES`` real clips spread over the training data."""
    data = ClipData(**config.data)
    dataset = build_clip_dataset(data)
    picks = torch.linspace(0, len(dataset) - 1, SAMPLES).long().tolist()
    items = [dataset[i] for i in picks]
    return shape_motion_scores(torch.stack([i["video"] for i in items]), [int(i["category"]) for i in items])


def write_grids(model: VideoGAN, run: Path, generator: torch.Generator, length: int | None = None) -> None:
    """Sample grids in ``run``: 8 videos per class, and MoCoGAN's fixed content / fixed motion."""
    length = length or 2 * model.video_length
    for category in range(model.num_classes):
        write_video_grid(model.sample(8, length, category, generator=generator), run / f"class_{category}.mp4")
    if isinstance(model, MoCoGAN):
        write_video_grid(model.fixed_content(8, length, generator=generator), run / "fixed_content.mp4")
        write_video_grid(model.fixed_motion(8, length, generator=generator), run / "fixed_motion.mp4")


def describe(figures: dict[str, Any]) -> str:
    """The proof's lines for one family."""
    g, r = figures["generated"], figures["real"]
    verdict = "met" if min(g["constant_shape"], g["direction"]) >= GOAL else "NOT met"
    return "\n".join([
        (f"{figures['family']}: {figures['budget']} ({figures['iterations']} iterations in "
         f"{figures['train_seconds'] / 60:.1f} min on "
         + (f"{figures['threads']} CPU threads" if figures.get("device", "cpu") == "cpu" else figures["device"])
         + ")"),
        (f"  generated ({g['videos']} videos, {g['videos'] // figures['classes']} per class with category=): "
         f"one connected shape of constant "
         f"colour {g['constant_shape']:.1%} (one shape {g['one_shape']:.1%}), moves in its class's direction "
         f"{g['direction']:.1%} -> goal {GOAL:.0%}: {verdict}"),
        f"  real clips ({r['videos']}): constant shape {r['constant_shape']:.1%}, direction {r['direction']:.1%}",
        "  by iteration (constant shape / direction): " + ", ".join(
            f"{i}: {shape:.0%}/{direction:.0%}" for i, (shape, direction) in figures["curve"].items()),
    ])


def actions(out: str | Path) -> Path:
    """MoCoGAN on the Weizmann action strips at 64x64 for a short budget; sample grids in its run."""
    model, run, _ = train("actions", Path(out))
    write_grids(model, run, torch.Generator().manual_seed(2024))
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", choices=("mocogan", "dvdgan", "all"), default="all")
    parser.add_argument("--actions", action="store_true", help="also train on the Weizmann actions (short)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "proof"), help="run folders go here")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="training device (default %(default)s; the budget is a CPU one)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides applied after the proof's budget (e.g. train.minutes=5)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    met = True
    for family in ("mocogan", "dvdgan") if args.family == "all" else (args.family,):
        started = time.perf_counter()
        figures = prove(family, args.out, args.threads, args.device, args.set)
        print(describe(figures) + f"\n  (this call: {time.perf_counter() - started:.0f} s)", flush=True)
        met &= min(figures["generated"]["constant_shape"], figures["generated"]["direction"]) >= GOAL
    if args.actions:
        run = actions(args.out)
        print(f"actions: {PROOFS['actions'].budget}; sample videos in {run}: "
              + ", ".join(sorted(p.name for p in run.glob("*.mp4"))))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
