"""Motion-transfer quality on real footage (issue #16), judged as the papers judge it.

Self cases hold out the end of a clip: the target trains on its first frames and is driven by
the keypoints of the rest (``retarget: false``, the driving head pose), so every output frame has
a ground truth, the driving frame itself: SSIM and PSNR against it, at the model's size, for the
result, the same generator frame by frame, the baselines without a network (the nearest target
frame by keypoints, that frame warped onto the driving keypoints) and vid2vid trained alike. Cross
cases drive a target with another person and are judged on what can be measured without a
ground truth (keypoints found and followed, mouth opening, sharpness). Cross cases reuse the
model of the self case of the same target.

Every case writes ``<out>/<case>.png``, a contact sheet of 6 frames spread over the clip:
driving | nearest | warp only | [vid2vid |] result (| the composed full frame, faces). Look at it.

    python bench/transfer_quality.py [case ...] [--out out/quality] [--minutes 20] [--no-vid2vid]
                                     [--set preset=gpu-256 ...]

On a GPU: ``python bench/transfer_quality.py face_self_pexels body_self --out out/quality_gpu
--minutes 8 --set preset=gpu-256 --set device=cuda``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vidgan.pipelines.motion_transfer import MotionTransferConfig, MotionTransferReport, run_motion_transfer
from vidgan.config import load_config
from vidgan.io import VideoReader, probe
from vidgan.metrics import psnr, ssim
from vidgan.train.logger import read_metrics

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
#: Share of a self case's frames the target trains on; the rest drive it.
TRAIN_SHARE = 0.75


@dataclass(frozen=True)
class Case:
    """One proof: ``target`` (and ``driving``: the same clip when None, a self case)."""

    kind: str
    target: str
    driving: str | None = None
    target_frames: str | None = None  # None: the first TRAIN_SHARE of the clip
    driving_frames: str | None = None  # None: the rest of it (self) / the whole clip (cross)
    model_from: str | None = None  # cross cases: the self case whose model they use
    goals: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def self_case(self) -> bool:
        return self.driving is None


FACE_SELF = {"result/found": (">=", 1.0), "result/nme": ("<=", 0.05), "result/mouth_corr": (">=", 0.8),
             "result/sharpness": (">=", 0.8), "ssim>nearest": (">", 0.0), "ssim>vid2vid": (">", 0.0)}
FACE_CROSS = {"result/found": (">=", 1.0), "result/mouth_corr": (">=", 0.7)}
CASES = {
    **{f"face_self_{name}": Case("face", f"talking_head_{name}.mp4", goals=FACE_SELF)
       for name in ("lp_d3", "lp_d6", "pexels")},
    **{f"face_cross_{name}": Case("face", "talking_head_pexels.mp4", f"talking_head_{name}.mp4",
                                  model_from="face_self_pexels", goals=FACE_CROSS) for name in ("lp_d6", "lp_d3")},
    "body_self": Case("dance", "dance_musepose.mp4", target_frames="0:200", driving_frames="200:288",
                      goals={"result/pck@0.2": (">=", 0.8), "result/sharpness": (">=", 0.7), "ssim>nearest": (">", 0.0),
                             "ssim>vid2vid": (">", 0.0), "temporal": (">", 0.0)}),
    "body_cross": Case("dance", "dance_musepose.mp4", "dance_tiktok_a.mp4", target_frames="0:200",
                       model_from="body_self", goals={"result/pck@0.2": (">=", 0.8), "result/sharpness": (">=", 0.6)}),
}


def frame_ranges(case: Case) -> tuple[str, str]:
    """``(target_frames, driving_frames)`` of a case."""
    if case.target_frames is not None:
        split = case.target_frames
    else:
        split = f"0:{round(probe(VIDEOS / case.target).frames * TRAIN_SHARE)}"
    driving = case.driving_frames or (f"{split.split(':')[1]}:" if case.self_case else ":")
    return split, driving


def run_case(name: str, out_dir: Path, minutes: float, generator: str = "ref_warp",
             overrides: list[str] = ()) -> MotionTransferReport:
    """Run (or resume) one case with ``generator`` into ``out_dir/<name>[_<generator>].mp4``."""
    case = CASES[name]
    target_frames, driving_frames = frame_ranges(case)
    suffix = "" if generator == "ref_warp" else f"_{generator}"
    settings = [f"kind={case.kind}", f"target={VIDEOS / case.target}", f"driving={VIDEOS / (case.driving or case.target)}",
                f"target_frames='{target_frames}'", f"driving_frames='{driving_frames}'", f"generator={generator}",
                f"tracking.what={'body' if case.kind == 'dance' else 'face'}", f"out={out_dir / f'{name}{suffix}.mp4'}",
                f"train=[train.minutes={minutes}]"]
    if case.self_case:
        settings += ["retarget=false", "head_pose=driving"]
    if case.model_from:
        model = out_dir / f"{case.model_from}{suffix}.work" / "train" / "model"
        if not model.is_dir():  # its self case first
            run_case(case.model_from, out_dir, minutes, generator, overrides)
        settings.append(f"model={model}")
    return run_motion_transfer(load_config(MotionTransferConfig, None, settings + list(overrides)))


def ground_truth_scores(methods: dict[str, tuple[Path, Path]]) -> dict[str, float]:
    """SSIM and PSNR of each method's model-size frames against the driving frames at the same
    size (self cases): ``methods`` maps a name to (its video, the driving clip of its run)."""
    scores = {}
    for method, (video, driving) in methods.items():
        truth = np.stack(list(VideoReader(driving)))
        frames = np.stack(list(VideoReader(video)))[: len(truth)]
        scores[f"{method}/ssim"] = ssim(truth[: len(frames)], frames)
        scores[f"{method}/psnr"] = psnr(truth[: len(frames)], frames)
    return scores


def contact_sheet(path: Path, columns: dict[str, Path], rows: int = 6, height: int = 160) -> Path:
    """A PNG of ``rows`` frames spread over the clip, one column per video, each labelled."""
    readers = {label: np.stack(list(VideoReader(video))) for label, video in columns.items()}
    count = min(len(frames) for frames in readers.values())
    picks = np.linspace(0, count - 1, rows).round().astype(int)
    lines = []
    for t in picks:
        cells = []
        for label, frames in readers.items():
            frame = frames[t]
            cell = cv2.resize(frame, (round(frame.shape[1] * height / frame.shape[0]), height),
                              interpolation=cv2.INTER_AREA).copy()
            cv2.putText(cell, f"{label} {t}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
            cells.append(cell)
        lines.append(np.concatenate(cells, axis=1))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(lines, axis=0), cv2.COLOR_RGB2BGR))
    return path


def iterations_per_minute(work: Path) -> float:
    """The median training rate of a run's logged iterations, per minute (NaN: not trained here)."""
    rates = [r["it_per_s"] for r in read_metrics(work / "train") if "it_per_s" in r][1:]
    return 60 * statistics.median(rates) if rates else float("nan")


def conv_throughput(seconds: float = 2.0) -> float:
    """FLOP/s this process reaches on a representative convolution (64 -> 64 channels, 3x3,
    4 x 96 x 96, forward and backward): the machine's practical ceiling for the U-Net."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(4, 64, 96, 96, requires_grad=True)

    def step() -> None:
        conv(x).square().mean().backward()

    with FlopCounterMode(display=False) as counter:
        step()
    step()
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        step()
        count += 1
    return counter.get_total_flops() * count / (time.perf_counter() - started)


def iteration_flops(work: Path) -> float:
    """FLOPs of one training iteration of a workspace's ref_warp run (generator and
    discriminator, forward and backward; the warp's own arithmetic left out)."""
    import torch
    import yaml
    from torch.utils.flop_counter import FlopCounterMode

    from vidgan.data.reference_frames import ReferenceFrames, ReferencePairsDataset, ReferenceSettings
    from vidgan.models.ref_warp import RefWarp

    config = yaml.safe_load((work / "train" / "config.yaml").read_text())
    model = RefWarp(**config["model"])
    dataset = ReferencePairsDataset(ReferenceFrames.load(config["data"]["file"]), ReferenceSettings(**config["data"]))
    items = [dataset[i] for i in range(config["train"]["batch_size"])]
    batch = {k: torch.stack([item[k] for item in items]) for k in items[0]}
    with FlopCounterMode(display=False) as counter:
        out = model.generator(batch["maps"], batch["points"], batch["references"], batch["reference_points"])
        scores = model.discriminators["image"](torch.cat([batch["maps"], out.frames], 1))
        (out.frames.mean() + sum(s[0].mean() for s in scores)).backward()  # G step: G and D
        fake = out.frames.detach()
        for frames in (fake, batch["frames"]):  # D step: D on fake and real
            scores = model.discriminators["image"](torch.cat([batch["maps"], frames], 1))
            sum(s[0].mean() for s in scores).backward()
    return float(counter.get_total_flops())


def evaluate_case(name: str, out_dir: Path, minutes: float, vid2vid: bool, overrides: list[str] = ()) -> dict[str, float]:
    """Run a case (and its vid2vid twin), score it, write its contact sheet; its figures."""
    case = CASES[name]
    report = run_case(name, out_dir, minutes, overrides=overrides)
    work = report.workspace
    figures = dict(report.metrics)
    figures["train it/min"] = iterations_per_minute(work)
    if (work / "train" / "config.yaml").is_file():
        figures["train share of conv throughput"] = figures["train it/min"] / 60 * iteration_flops(work) / conv_throughput()
    columns = {"driving": work / "driving.mp4", "nearest": work / "nearest.mp4", "warp only": work / "warp_only.mp4"}
    if vid2vid and case.self_case:
        twin = run_case(name, out_dir, minutes, "vid2vid", overrides)
        columns["vid2vid"] = twin.workspace / "result.mp4"
        figures["vid2vid train it/min"] = iterations_per_minute(twin.workspace)
    columns["frame by frame"] = work / "frame_by_frame.mp4"
    columns["result"] = work / "result.mp4"
    if case.self_case:
        scores = ground_truth_scores({k.replace(" ", "_"): (v, v.parent / "driving.mp4") for k, v in columns.items()
                                      if k != "driving"})
        figures.update(scores)
        figures["ssim>nearest"] = scores["result/ssim"] - scores["nearest/ssim"]
        if "vid2vid/ssim" in scores:
            figures["ssim>vid2vid"] = scores["result/ssim"] - scores["vid2vid/ssim"]
    figures["temporal"] = figures["frame_by_frame/warping_error"] - figures["result/warping_error"]
    if case.kind == "face":
        columns["composed"] = report.out
    contact_sheet(out_dir / f"{name}.png", columns)
    (out_dir / f"{name}.json").write_text(json.dumps(figures, indent=2))
    return figures


def goals(name: str, figures: dict[str, float]) -> list[tuple[str, float, str, bool]]:
    """(measure, value, goal, met) rows of one case; a goal whose figure is absent is not met."""
    rows = []
    for key, (op, bound) in CASES[name].goals.items():
        value = figures.get(key, float("nan"))
        met = {">=": value >= bound, "<=": value <= bound, ">": value > bound}[op]
        rows.append((key, value, f"{op} {bound:g}", bool(met)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", choices=[*CASES, []], default=list(CASES))
    parser.add_argument("--out", type=Path, default=Path("out/quality"))
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per model")
    parser.add_argument("--no-vid2vid", dest="vid2vid", action="store_false", help="skip the vid2vid baseline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override of every run's transfer config, e.g. preset=gpu-256")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = False
    for name in args.cases or list(CASES):
        started = time.perf_counter()
        figures = evaluate_case(name, args.out, args.minutes, args.vid2vid, args.set)
        print(f"== {name} ({time.perf_counter() - started:.0f} s; contact sheet {args.out / name}.png)")
        print("   " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items() if "/" in k or "train" in k))
        for measure, value, goal, met in goals(name, figures):
            print(f"   {measure:22s} {value:8.4f}   goal {goal:10s} {'met' if met else 'NOT MET'}")
            failed |= not met
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
