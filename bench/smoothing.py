"""Keypoint smoothing filters on real face keypoints: jitter cut and lag of each filter.

Runs every filter of vidgan.keypoints.smooth with its default parameters on one raw track,
offline (whole track) and online (frame by frame with ``step``), and prints: jitter raw and
smoothed (mean acceleration / inter-ocular distance), jitter reduction, lag in frames, the mean
shift of the points, and the time per frame. ``*`` marks the default filter, which must cut
jitter by >= 60% with a lag <= 1 frame (exit status 1 otherwise). Also draws raw vs smoothed
trajectories (y of a lip point, x of the nose tip) to a PNG with matplotlib.

Usage: python bench/smoothing.py [--keypoints RAW.npz | --video VIDEO] [--plot out/smoothing.png]
Without --keypoints, face keypoints are extracted from the video first (dlib, slow).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from vidgan.keypoints import Keypoints, load_tracks
from vidgan.keypoints.quality import jitter, lag
from vidgan.keypoints.smooth import DEFAULT_FILTER, FILTERS, Smoother

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "videos" / "talking_head_pexels.mp4"
TARGET_REDUCTION, TARGET_LAG = 60.0, 1.0

#: (joint, coordinate, label) of the two plotted trajectories, per skeleton.
PLOTTED = {"ibug68": ((57, 1, "y of the lower lip (57)"), (30, 0, "x of the nose tip (30)"))}
#: Colour of each curve.
COLORS = {
    "raw": "#969696",
    "one_euro": "#ff8c00",
    "savgol": "#28a028",
    "gaussian": "#0078c8",
    "median": "#a028a0",
    "kalman": "#dc1e1e",
}


def load_raw(keypoints: Path | None, video: Path) -> Keypoints:
    """The track with the most detections, from a keypoints file or extracted from ``video``."""
    if keypoints is not None:
        tracks = load_tracks(keypoints)
    else:
        from vidgan.keypoints.extract import extract_video

        tracks = extract_video(video, what="face")
    if not tracks:
        raise SystemExit(f"bench/smoothing.py: no face track in {keypoints or video}")
    return max(tracks, key=lambda track: int(track.visible.sum()))


def run_online(smoother: Smoother, raw: Keypoints) -> Keypoints:
    """Filter ``raw`` frame by frame with ``step``, timestamps at the track's fps."""
    fps = float(raw.fps)
    frames = [smoother.step(raw.track_id, points, timestamp=i / fps) for i, points in enumerate(raw.points)]
    return raw.with_points(np.stack(frames))


def where_raw_visible(raw: Keypoints, smoothed: Keypoints) -> Keypoints:
    """``smoothed`` without the points that ``raw`` lacks (interpolated gaps), to compare alike."""
    return smoothed.with_points(np.where(raw.visible[..., None], smoothed.points, np.nan))


def measure(raw: Keypoints) -> tuple[list[dict], dict[str, Keypoints]]:
    """One row of figures per filter, and the offline outputs."""
    raw_jitter = jitter(raw)
    rows, outputs = [], {}
    for name in FILTERS:
        smoother = Smoother(name, fps=float(raw.fps))
        started = time.perf_counter()
        outputs[name] = smoother(raw)
        seconds = time.perf_counter() - started
        offline = where_raw_visible(raw, outputs[name])
        online = run_online(smoother, raw)
        rows.append(
            {
                "name": name,
                "params": ", ".join(f"{k}={v}" for k, v in smoother.params.items()),
                "jitter": jitter(offline),
                "reduction": 100 * (1 - jitter(offline) / raw_jitter),
                "lag": lag(raw, offline),
                "online_reduction": 100 * (1 - jitter(online) / raw_jitter),
                "online_lag": lag(raw, online),
                "shift": float(np.nanmean(np.linalg.norm(offline.xy - raw.xy, axis=-1))),
                "ms": 1000 * seconds / len(raw),
            }
        )
    return rows, outputs


def print_table(raw: Keypoints, rows: list[dict]) -> None:
    raw_jitter = jitter(raw)
    print(f"{'filter':<10} {'params':<40} {'jitter raw':>10} {'smoothed':>9} {'cut %':>6} {'lag':>6}"
          f" {'online cut %':>12} {'online lag':>10} {'shift px':>8} {'ms/frame':>8}")
    for row in rows:
        mark = "*" if row["name"] == DEFAULT_FILTER else " "
        print(f"{row['name'] + mark:<10} {row['params']:<40} {raw_jitter:>10.4f} {row['jitter']:>9.4f}"
              f" {row['reduction']:>6.1f} {row['lag']:>6.2f} {row['online_reduction']:>12.1f}"
              f" {row['online_lag']:>10.2f} {row['shift']:>8.2f} {row['ms']:>8.3f}")
    print("* default. cut: jitter reduction; lag: frames behind the raw motion (positive = late);")
    print("  online: frame by frame with Smoother.step (kalman: forward pass only; savgol, gaussian,")
    print("  median: trailing half window); shift: mean distance of smoothed from raw points.")


def plot(raw: Keypoints, outputs: dict[str, Keypoints], path: Path, frames: int) -> None:
    """Two panels of raw vs smoothed trajectories over the first ``frames`` frames, to ``path``
    (NaN gaps, frames without the face, break the curves)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    frames = min(frames, len(raw))
    curves = (("raw", raw), *outputs.items())
    panels = PLOTTED.get(raw.skeleton.name, ((0, 1, "y of joint 0"), (0, 0, "x of joint 0")))
    figure = Figure(figsize=(12, 7), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True)
    for axis, (joint, coordinate, label) in zip(axes, panels):
        for name, track in curves:
            axis.plot(np.arange(frames), track.xy[:frames, joint, coordinate], color=COLORS[name],
                      linewidth=1 if name == "raw" else 1.6,
                      label=f"{name} (default)" if name == DEFAULT_FILTER else name)
        axis.set_ylabel(f"{label}, px")
        if coordinate == 1:
            axis.invert_yaxis()  # image rows grow downwards
    axes[0].legend(ncol=len(curves), loc="lower left", bbox_to_anchor=(0, 1.02), frameon=False)
    axes[-1].set_xlabel(f"frame of {raw.video_id or 'track'} at {float(raw.fps):.3f} fps")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keypoints", type=Path, help="raw tracks written by vidgan.keypoints.save_tracks")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="extracted from when --keypoints is absent")
    parser.add_argument("--plot", type=Path, default=ROOT / "out" / "smoothing.png")
    parser.add_argument("--plot-frames", type=int, default=240, help="frames drawn in the plot")
    args = parser.parse_args()
    if args.keypoints is None and not args.video.is_file():
        print(f"bench/smoothing.py: {args.video}: no such file (pass --keypoints or --video)", file=sys.stderr)
        return 2

    raw = load_raw(args.keypoints, args.video)
    print(f"{raw.video_id or args.keypoints}: track {raw.track_id}, {len(raw)} frames at {float(raw.fps):.3f} fps,"
          f" {raw.skeleton.name}, {100 * raw.visible.mean():.1f}% of points visible")
    rows, outputs = measure(raw)
    print_table(raw, rows)
    plot(raw, outputs, args.plot, args.plot_frames)
    print(f"plot: {args.plot}")
    default = next(row for row in rows if row["name"] == DEFAULT_FILTER)
    ok = default["reduction"] >= TARGET_REDUCTION and abs(default["lag"]) <= TARGET_LAG
    print(f"default {DEFAULT_FILTER}: jitter cut {default['reduction']:.1f}% (goal >= {TARGET_REDUCTION:.0f}%),"
          f" lag {default['lag']:.2f} frames (goal <= {TARGET_LAG:.0f}): {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
