"""The motion-transfer proofs on real footage (issue #6), printed as a table.

dance: target = the first 200 frames of dance_musepose.mp4, source = its last 80 (poses never
seen in training), preset cpu-small (at most 20 minutes of training). Goals: PCK@0.2 of poses
re-extracted from the result against the normalised driving poses >= 0.6; warping error lower
than the same generator run frame by frame without its temporal parts.
face: target = the first 300 frames of talking_head_pexels.mp4, driving = talking_head_lp_d3.mp4,
face preset cpu-small. Goal: landmark NME of the result against the transferred landmarks <= 8%.

    python bench/transfer_proof.py [dance|face ...] [--out out/proof] [key=value overrides]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipelines.motion_transfer import (
    MotionTransferConfig,
    MotionTransferReport,
    run_motion_transfer,
)
from vidgan.config import load_config

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"

PROOFS = {
    "dance": {"kind": "dance", "driving": "dance_musepose.mp4", "target": "dance_musepose.mp4",
              "target_frames": "0:200", "driving_frames": "-80:", "tracking.what": "body"},
    "face": {"kind": "face", "driving": "talking_head_lp_d3.mp4", "target": "talking_head_pexels.mp4",
             "target_frames": "0:300", "driving_frames": ":", "tracking.what": "face"},
}


def run_proof(name: str, out_dir: str | Path, overrides: list[str] = ()) -> MotionTransferReport:
    """Run (or resume) one proof into ``out_dir/<name>.mp4`` and return its report."""
    settings = dict(PROOFS[name])
    for key in ("driving", "target"):
        settings[key] = str(VIDEOS / settings[key])
    settings["out"] = str(Path(out_dir) / f"{name}.mp4")
    config = load_config(MotionTransferConfig, None, [f"{k}={v!r}" if ":" in str(v) else f"{k}={v}"
                                                      for k, v in settings.items()] + list(overrides))
    return run_motion_transfer(config)


def goals(name: str, metrics: dict[str, float]) -> list[tuple[str, float, str, bool]]:
    """(measure, value, goal, met) rows of one proof."""
    warp, baseline = metrics["warping_error"], metrics["warping_error_frame_by_frame"]
    rows = [("warping error (temporal)", warp, f"< frame by frame {baseline:.4f}", warp < baseline)]
    if name == "dance":
        rows.insert(0, ("PCK@0.2", metrics["pck@0.2"], ">= 0.6", metrics["pck@0.2"] >= 0.6))
    else:
        rows.insert(0, ("NME", metrics["nme"], "<= 0.08", metrics["nme"] <= 0.08))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("proofs", nargs="*", choices=[*PROOFS, []], default=list(PROOFS))
    parser.add_argument("--out", default="out/proof")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override of the transfer config, e.g. train=[train.minutes=5]")
    args = parser.parse_args()
    failed = False
    for name in args.proofs or list(PROOFS):
        started = time.perf_counter()
        report = run_proof(name, args.out, args.set)
        print(f"== {name}: {report.out} ({time.perf_counter() - started:.0f} s, report {report.report})")
        for measure, value, goal, met in goals(name, report.metrics):
            print(f"  {measure:28s} {value:8.4f}   goal {goal:24s} {'met' if met else 'NOT MET'}")
            failed |= not met
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
