"""``vidgan transfer`` and ``vidgan reenact``: a target performs a driving video's motion.

Dance transfer (Everybody Dance Now) drives a target person with a source dancer's body poses;
face reenactment drives a target face with a driving face's expressions. Both are one workflow
over a different kind of keypoints. Steps, each resumable in the workspace
(:class:`~pipelines.workspace.Workspace`: a second run with the same arguments reuses them):

1. ``tracks``    the keypoints of the target's and the driving video's frame ranges (body:
                 mediapipe, face: dlib; smoothed; the two videos side by side on Ray), or tracks
                 given as ``.npz``;
2. ``clips``     both ranges fitted to the model's frame size (bodies: the centred frame; faces:
                 a crop around the face over the whole clip), with their keypoints;
3. ``retarget``  the driving keypoints moved onto the target: global pose normalisation (body)
                 or expression transfer onto the target's neutral face (face);
4. ``dataset``   target frames paired with their conditioning maps (+ head boxes for the face GAN);
5. ``train``     a vid2vid model of the target (skipped with ``model=DIR``);
6. ``generate``  the result, in chunks that carry the previous frames across chunk borders,
                 encoded with the driving video's audio; plus a driving | maps | result panel;
7. ``evaluate``  keypoints re-extracted from the result against the retargeted ones (PCK for
                 bodies, NME for faces) and the warping error of the result against the same
                 generator run frame by frame (no temporal parts);
8. ``<out>.report.html`` beside the output.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from pipelines.footage import Fit, fps_of, frame_range, select_frames, write_fitted_clip
from pipelines.report import write_report
from pipelines.workspace import Workspace, file_digest
from vidgan.config import load_config
from vidgan.errors import InputError, VidganError
from vidgan.io import VideoReader, VideoWriter, probe
from vidgan.io.atomic import atomic_path
from vidgan.keypoints import Keypoints, PoseNormalizer, load_tracks, transfer_expression
from vidgan.keypoints.align import head_boxes
from vidgan.keypoints.render import render_track
from vidgan.stages import StageSpec, make_runner
from vidgan.stages.base import Resources, batch_to_rows, rows_to_batch
from vidgan.stages.tracks import ExtractTrack, TrackSettings
from vidgan.train.experiment import ExperimentConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "models"

Kind = Literal["dance", "face"]


@dataclass(frozen=True)
class MotionTransferConfig:
    """A run of ``vidgan transfer`` (``kind: dance``) or ``vidgan reenact`` (``kind: face``);
    presets ``configs/pipelines/transfer.yaml`` / ``reenact.yaml``, CLI flags set the same keys.

    ``driving``: the source dancer / driving face; ``target``: who performs it. ``preset``:
    ``cpu-small`` | ``gpu-256`` | ``gpu-512`` (``configs/models/vid2vid[_face]_<preset>.yaml``) or a
    path to a vid2vid model config; ``train``: ``key=value`` overrides of it (``train.minutes=5``).
    ``model``: a trained target model folder (skips dataset and training). ``target_frames`` /
    ``driving_frames``: Python slices (``0:200``, ``-80:``). ``target_track`` / ``driving_track``:
    ``.npz`` keypoint tracks of the whole videos (skip extraction). ``workspace``: default
    ``<out>.work`` beside the output. ``retarget: false`` drives with the raw driving keypoints.
    """

    kind: Kind = "dance"
    driving: str = ""
    target: str = ""
    out: str = "out/transfer.mp4"
    preset: str = "cpu-small"
    train: list[str] = field(default_factory=list)
    model: str | None = None
    workspace: str | None = None
    target_frames: str = ":"
    driving_frames: str = ":"
    target_track: str | None = None
    driving_track: str | None = None
    retarget: bool = True
    tracking: TrackSettings = field(default_factory=TrackSettings)
    runner: Literal["local", "ray"] = "local"
    address: str | None = None
    chunk: int = 32
    device: str = "auto"
    evaluate: bool = True

    def __post_init__(self) -> None:
        if not self.driving or not self.target:
            raise ValueError("both a driving and a target video are needed")
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {self.chunk}")
        expected = "body" if self.kind == "dance" else "face"
        if self.tracking.what != expected:
            raise ValueError(f"{self.kind} transfer tracks {expected} keypoints, got tracking.what={self.tracking.what}")


@dataclass(frozen=True)
class MotionTransferReport:
    """What a run produced."""

    out: Path
    report: Path
    metrics: dict[str, float]
    workspace: Path

    def describe(self) -> str:
        figures = ", ".join(f"{k} {v:.4g}" for k, v in self.metrics.items())
        return f"result: {self.out}\nreport: {self.report}\nworkspace: {self.workspace}\n{figures}"


def model_config(config: MotionTransferConfig) -> ExperimentConfig:
    """The vid2vid experiment of ``config.preset`` with ``config.train`` overrides applied."""
    prefix = "vid2vid_" if config.kind == "dance" else "vid2vid_face_"
    preset = Path(config.preset)
    if not preset.suffix:
        preset = CONFIGS / f"{prefix}{config.preset.replace('-', '_')}.yaml"
    if not preset.is_file():
        names = sorted(p.stem.removeprefix(prefix).replace("_", "-") for p in CONFIGS.glob(f"{prefix}*.yaml"))
        raise InputError(preset, f"no such preset; choose one of {', '.join(names)} or give a config path")
    return load_config(ExperimentConfig, preset, config.train)


def frame_size(experiment: ExperimentConfig, footage: tuple[int, int]) -> tuple[int, int]:
    """The model's ``(H, W)``: ``data.size`` when it is ``[H, W]``; when it is one number S, the
    size of S x S pixels at the aspect of the target ``footage (H, W)`` (portrait dancers stay
    whole), both sides multiples of what the generator needs (2 ** (n_downsample + n_scales - 1))."""
    size = experiment.data.get("size")
    if size is None:
        raise VidganError("a vid2vid preset for a workflow must set data.size ([H, W] or H)")
    if not isinstance(size, int):
        return int(size[0]), int(size[1])
    model = experiment.model
    multiple = 2 ** (model.get("n_downsample", 3) + model.get("n_scales", 1) - 1)
    aspect = footage[1] / footage[0]
    height, width = size / aspect**0.5, size * aspect**0.5
    return (max(multiple, round(height / multiple) * multiple), max(multiple, round(width / multiple) * multiple))


def retarget(kind: Kind, driving: Keypoints, target: Keypoints) -> Keypoints:
    """Driving keypoints moved onto the target: Everybody Dance Now's global pose normalisation
    (body) or the driving expressions on the target's neutral face (face)."""
    if kind == "dance":
        return PoseNormalizer().fit(driving, target)(driving)
    return transfer_expression(driving, _neutral_face(target), _neutral_face(driving))


def _neutral_face(track: Keypoints) -> np.ndarray:
    """``(68, 3)``: the per-point median over the frames that show the whole face (one frame's
    face may have closed eyes or an open mouth; the median is the resting face)."""
    complete = track.visible.all(axis=1)
    if not complete.any():
        raise VidganError(f"{track.video_id or 'a track'}: no frame shows the whole face (needed for its neutral face)")
    return np.median(track.points[complete], axis=0)


def run_motion_transfer(config: MotionTransferConfig, *, log: TextIO | None = None) -> MotionTransferReport:
    """Run (or resume) every step and return where the result and its report are."""
    from vidgan.models.vid2vid import Vid2Vid

    out = Path(config.out)
    workspace = Workspace(config.workspace or out.with_name(out.stem + ".work"), log=log)
    experiment = model_config(config)
    driving_info, target_info = probe(config.driving), probe(config.target)
    size = frame_size(experiment, target_info.size if config.kind == "dance" else (1, 1))  # faces: square crops
    face_refine = bool(experiment.model.get("face_refine", False))
    clips = {
        "target": (config.target, frame_range(config.target_frames, target_info.frames, path=config.target), target_info),
        "driving": (config.driving, frame_range(config.driving_frames, driving_info.frames, path=config.driving),
                    driving_info),
    }
    inputs = {"kind": config.kind, "size": size,
              **{name: [file_digest(video), span] for name, (video, span, _) in clips.items()}}
    given = {"target": config.target_track, "driving": config.driving_track}
    track_inputs = {**inputs, "tracking": asdict(config.tracking),
                    "given": {k: file_digest(v) if v else None for k, v in given.items()}}
    workspace.step("tracks", track_inputs, ["target_track_raw.npz", "driving_track_raw.npz"],
                   lambda: _tracks(config, clips, given, workspace))

    def write_clips() -> None:
        for name, (video, (start, stop), info) in clips.items():
            raw = load_tracks(workspace.path(f"{name}_track_raw.npz"))[0]
            # bodies: the whole (centred) frame, normalisation handles the framing; faces: around the face
            fit = Fit(info.size, size) if config.kind == "dance" else Fit.around(raw, info.size, size)
            write_fitted_clip(video, start, stop, fit, workspace.path(f"{name}.mp4"))
            fit.keypoints(raw).save(workspace.path(f"{name}_track.npz"))

    workspace.step("clips", track_inputs, ["target.mp4", "driving.mp4", "target_track.npz", "driving_track.npz"],
                   write_clips)
    target = load_tracks(workspace.path("target_track.npz"))[0]
    driving_raw = load_tracks(workspace.path("driving_track.npz"))[0]

    def write_retargeted() -> None:
        moved = retarget(config.kind, driving_raw, target) if config.retarget else driving_raw
        moved.save(workspace.path("retargeted.npz"))

    retarget_inputs = {**track_inputs, "retarget": config.retarget}
    workspace.step("retarget", retarget_inputs, ["retargeted.npz"], write_retargeted)
    driving = load_tracks(workspace.path("retargeted.npz"))[0]

    model_dir = Path(config.model) if config.model else workspace.path("train") / "model"
    if config.model is None:
        dataset_inputs = {**track_inputs, "face_refine": face_refine}
        workspace.step("dataset", dataset_inputs, ["dataset"],
                       lambda: _write_dataset(workspace, target, size, face_refine))
        training = _training_config(experiment, workspace, size)
        workspace.step("train", {**dataset_inputs, "experiment": asdict(training)}, ["train/model"],
                       lambda: _train(training, workspace))
    model = Vid2Vid.from_pretrained(model_dir)

    maps = render_track(driving, size)
    boxes = head_boxes(driving) if face_refine else None
    driving_start = clips["driving"][1][0] / float(driving_info.fps)
    generate_inputs = {**retarget_inputs, "model": file_digest(model_dir / "model.safetensors"), "chunk": config.chunk}

    def generate() -> None:
        from vidgan.stages.generate import generate_video

        generate_video(model, maps, out, driving_info.fps, face_boxes=boxes, chunk=config.chunk, device=config.device,
                       audio_from=config.driving if driving_info.has_audio else None, audio_start=driving_start)
        _write_panel(workspace.path("driving.mp4"), maps, out, workspace.path("panel.mp4"))

    workspace.step("generate", {**generate_inputs, "out": str(out.resolve())}, [str(out.resolve()), "panel.mp4"],
                   generate)

    metrics: dict[str, float] = {}
    if config.evaluate:
        workspace.step("evaluate", {**generate_inputs, "out": file_digest(out)}, ["metrics.json"],
                       lambda: _evaluate(config, model, maps, boxes, driving, out, workspace))
        metrics = json.loads(workspace.path("metrics.json").read_text())
    report = _report(config, out, workspace, metrics, model_dir)
    return MotionTransferReport(out, report, metrics, workspace.root)


def _tracks(config: MotionTransferConfig, clips: dict[str, Any], given: dict[str, str | None],
            workspace: Workspace) -> None:
    """Both videos' tracks in source pixels: from given tracks, else extracted from the original
    footage (full resolution) by the stage runner, the two videos side by side on Ray."""
    rows = []
    for name, (video, (start, stop), _) in clips.items():
        raw = workspace.path(f"{name}_track_raw.npz")
        if given[name]:
            tracks = load_tracks(given[name])
            if not tracks:
                raise InputError(given[name], "holds no keypoint track")
            select_frames(tracks[0], start, stop, path=given[name]).save(raw)
        else:
            rows.append({"video": video, "start": start, "stop": stop, "out": str(raw)})
    if rows:
        spec = StageSpec(ExtractTrack, {"settings": asdict(config.tracking)},
                         Resources(num_cpus=1.0, batch_size=1, concurrency=len(rows), stateful=True))
        with make_runner(config.runner, config.address) as runner:
            for row in runner.run(rows, [spec]):
                if row["status"] != "written":
                    raise InputError(row["video"], f"keypoint extraction failed: {row['error']}")
    for name, (video, _, _) in clips.items():
        tracks = load_tracks(workspace.path(f"{name}_track_raw.npz"))
        if not tracks or not tracks[0].detected_frames.any():
            raise InputError(video, f"no {config.tracking.what} found in the selected frames")


def _write_dataset(workspace: Workspace, target: Keypoints, size: tuple[int, int], face_refine: bool) -> None:
    from vidgan.data.paired_video import write_paired_dataset

    frames = np.stack(list(VideoReader(workspace.path("target.mp4"))))
    if len(frames) != len(target):
        raise VidganError(f"{workspace.path('target.mp4')}: {len(frames)} frames but {len(target)} keypoint frames")
    write_paired_dataset(frames, render_track(target, size), workspace.path("dataset"),
                         face_boxes=head_boxes(target) if face_refine else None, sequence_id="target")


def _training_config(experiment: ExperimentConfig, workspace: Workspace, size: tuple[int, int]) -> ExperimentConfig:
    data = {**experiment.data, "folder": str(workspace.path("dataset").resolve()), "size": list(size)}
    return ExperimentConfig(family="vid2vid", model=experiment.model, data=data, losses=experiment.losses,
                            train=experiment.train)


def _train(experiment: ExperimentConfig, workspace: Workspace) -> None:
    """Train into ``train/``, resuming its checkpoints only if they come from the same settings
    (a longer budget continues the run; any other change starts a new one)."""
    import yaml

    from vidgan.config import to_dict
    from vidgan.train.experiment import CONFIG_FILE, run_experiment

    def comparable(config: dict) -> dict:
        return {**config, "train": {k: v for k, v in config["train"].items() if k not in ("iterations", "minutes")}}

    saved = workspace.path("train") / CONFIG_FILE
    resume = saved.exists() and comparable(yaml.safe_load(saved.read_text())) == comparable(to_dict(experiment))
    if saved.exists() and not resume:
        print("[train] the settings changed: training a new model", file=workspace.log)
    run_experiment(experiment, workspace.path("train"), resume=resume)


def _write_panel(driving: Path, maps: np.ndarray, result: Path, out: Path) -> None:
    """driving | conditioning maps | result, side by side, with the result's audio."""
    with VideoWriter(out, fps_of(result), crf=20, preset="veryfast", audio_from=result) as writer:
        for frame, conditioning, generated in zip(VideoReader(driving), maps, VideoReader(result), strict=False):
            if conditioning.shape[2] == 1:
                conditioning = np.repeat(conditioning, 3, axis=2)
            writer.write(np.concatenate([frame, conditioning, generated], axis=1))


def _evaluate(config: MotionTransferConfig, model: Any, maps: np.ndarray, boxes: np.ndarray | None,
              driving: Keypoints, out: Path, workspace: Workspace) -> None:
    from vidgan.metrics import nme, pck, warping_error
    from vidgan.stages.generate import generate_video

    baseline = workspace.path("frame_by_frame.mp4")
    generate_video(model, maps, baseline, fps_of(out), face_boxes=boxes, temporal=False, chunk=config.chunk,
                   device=config.device)
    extracted = workspace.path("result_track.npz")
    extractor = ExtractTrack({**asdict(config.tracking), "smooth": "none"})
    [row] = batch_to_rows(extractor(rows_to_batch([{"video": str(out), "start": 0, "stop": len(maps),
                                                    "out": str(extracted)}])))
    if row["status"] != "written":
        raise InputError(out, f"keypoint extraction failed: {row['error']}")
    tracks = load_tracks(extracted)
    result = tracks[0] if tracks else Keypoints.missing(len(driving), driving.skeleton)
    metrics = {"frames": float(len(maps))}
    if config.kind == "dance":
        metrics.update({"pck@0.2": pck(result, driving, alpha=0.2), "pck@0.1": pck(result, driving, alpha=0.1)})
    else:
        metrics["nme"] = nme(result, driving)
    metrics["warping_error"] = warping_error(np.stack(list(VideoReader(out))))
    metrics["warping_error_frame_by_frame"] = warping_error(np.stack(list(VideoReader(baseline))))
    with atomic_path(workspace.path("metrics.json")) as temporary:
        temporary.write_text(json.dumps(metrics, indent=2))


def _report(config: MotionTransferConfig, out: Path, workspace: Workspace, metrics: dict[str, float],
            model_dir: Path) -> Path:
    from vidgan.train.logger import read_metrics

    records = read_metrics(workspace.path("train")) if config.model is None else []
    steps = ("tracks", "clips", "retarget", "dataset", "train", "generate", "evaluate")
    what = "dance transfer" if config.kind == "dance" else "face reenactment"
    return write_report(
        out.with_name(out.stem + ".report.html"),
        title=f"vidgan {what}: {Path(config.driving).name} -> {Path(config.target).name}",
        video=workspace.path("panel.mp4"), caption="driving | conditioning (retargeted to the target) | result",
        metrics=metrics, records=records, timings={s: workspace.seconds(s) for s in steps},
        settings={"preset": config.preset, "model": str(model_dir), "target frames": config.target_frames,
                  "driving frames": config.driving_frames, "overrides": " ".join(config.train) or "-"},
    )
