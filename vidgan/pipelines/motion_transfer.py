"""``vidgan transfer`` and ``vidgan reenact``: a target performs a driving video's motion.

Dance transfer (Everybody Dance Now) drives a target person with a source dancer's body poses;
face reenactment drives a target face with a driving face's expressions. Both are one workflow
over a different kind of keypoints. Everything that can be wrong with the inputs (unreadable
videos, frame ranges, the output path, a face or body found in too few frames) is checked
before any expensive step. Steps, each resumable in the workspace
(:class:`~vidgan.pipelines.workspace.Workspace`: a second run with the same arguments reuses them, and
a run that fails after training keeps the trained model):

1. ``tracks``    the keypoints of the target's and the driving video's frame ranges (body:
                 mediapipe, face: dlib; smoothed; the two videos side by side on Ray), or tracks
                 given as ``.npz``;
2. ``clips``     both ranges fitted to the model's frame size (bodies: the centred frame; faces:
                 a crop around the face over the whole clip, one crop for both when the driving
                 and the target are the same video), with their keypoints;
3. ``retarget``  the driving keypoints moved onto the target: global pose normalisation (body);
                 for faces the driving expressions on the target's face, with the target's own
                 head motion (``head_pose: target``, the target video looped back and forth when
                 the driving is longer) or the driving's (``head_pose: driving``);
4. ``dataset``   the target's frames with their keypoints and maps (reference frames for the
                 ``ref_warp`` generator, paired clips for ``vid2vid``);
5. ``train``     the generator of the target (skipped with ``model=DIR``);
6. ``generate``  the model-size frames: the result (temporally smoothed), the same generator
                 frame by frame, and two baselines without a network: the nearest target frame
                 by keypoints and that frame warped onto the driving keypoints;
7. ``compose``   the output video with the driving video's audio (none: silent): for faces the
                 target's full frames with the generated crop pasted back, its border feathered
                 (outside it every pixel is the target's); for bodies the model frames, enlarged
                 (bicubic) to a long side of at least :data:`MIN_LONG_SIDE` pixels;
8. ``evaluate``  per method, on its output: keypoints found (a share under 90 % is reported as a
                 failure), PCK (bodies) or NME and mouth-opening correlation (faces) against the
                 retargeted keypoints, warping error; at the model's size (what the generator
                 made, before pasting), sharpness of the face/body region against the real
                 target's; plus ``<out>.report.html`` beside the output.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

import cv2
import numpy as np
import torch

from vidgan.pipelines.footage import Fit, fps_of, frame_range, select_frames, write_fitted_clip
from vidgan.pipelines.report import write_report
from vidgan.pipelines.workspace import Workspace, file_digest
from vidgan.config import bundled_config, config_source, load_config
from vidgan.data.reference_frames import REFERENCES_FILE, ReferenceFrames
from vidgan.errors import InputError, VidganError
from vidgan.io import VideoReader, VideoWriter, probe
from vidgan.io.atomic import VIDEO_SUFFIXES, atomic_path, check_output
from vidgan.keypoints import Keypoints, PoseNormalizer, load_tracks, transfer_expression
from vidgan.keypoints.align import apply_transform, estimate_similarity, head_boxes, paste_back
from vidgan.keypoints.render import render_track
from vidgan.keypoints.retrieval import STABLE_FACE_POINTS, PoseIndex
from vidgan.keypoints.warp import warp_frames
from vidgan.progress import progress
from vidgan.stages import StageSpec, make_runner
from vidgan.stages.base import Resources, batch_to_rows, rows_to_batch
from vidgan.stages.blend import FlowBlender
from vidgan.stages.tracks import ExtractTrack, TrackSettings
from vidgan.train.experiment import ExperimentConfig

CONFIGS = bundled_config("configs/models")
#: A video whose keypoints are found in fewer of the selected frames is refused before training.
MIN_FOUND = 0.5
#: Keypoints re-found in fewer of a result's frames make its figures a reported failure.
MIN_RESULT_FOUND = 0.9
#: The methods a run generates and scores, in the panel's and the report's order.
METHODS = ("nearest", "warp_only", "result")
#: Sigma (pixels) of the coarse part of a ref_warp result that temporal smoothing blends.
SMOOTHING_LOW_PASS = 2.0
#: The shortest long side of a body output: smaller model frames are enlarged to it.
MIN_LONG_SIDE = 256
#: Share of a face crop's side over which its pasted border fades into the target frame.
PASTE_FEATHER = 0.06

Kind = Literal["dance", "face"]
Generator = Literal["ref_warp", "vid2vid"]


@dataclass(frozen=True)
class MotionTransferConfig:
    """A run of ``vidgan transfer`` (``kind: dance``) or ``vidgan reenact`` (``kind: face``);
    CLI flags set the same keys.

    ``driving``: the source dancer / driving face; ``target``: who performs it. ``generator``:
    ``ref_warp`` (the target's frames warped onto the driving keypoints and repaired by a
    network, the default) or ``vid2vid`` (drawn from the pose maps alone); unset with a config
    path as ``preset``: that config's family. ``preset``:
    ``cpu-small`` | ``gpu-256`` | ``gpu-512`` (``configs/models/<generator>[_face]_<preset>.yaml``)
    or a path to a model config; ``train``: ``key=value`` overrides of it (``train.minutes=5``).
    ``model``: a trained target model folder (skips dataset and training). ``target_frames`` /
    ``driving_frames``: Python slices (``0:200``, ``-80:``). ``target_track`` / ``driving_track``:
    ``.npz`` keypoint tracks of the whole videos (skip extraction). ``workspace``: default
    ``<out>.work`` beside the output. ``retarget: false`` drives with the raw driving keypoints.
    ``head_pose`` (faces): ``target`` keeps the target video's head motion, ``driving`` takes
    the driving's. ``smoothing``: weight of the previous output in the flow-guided temporal
    blend of ``ref_warp`` results, on their coarse part only (:data:`SMOOTHING_LOW_PASS`: shading
    does not flicker, detail stays sharp; 0: off). ``choice_temperature`` (``ref_warp``, in (0, 1]):
    below 1 the result takes each pixel more decisively from one reference instead of averaging
    slightly misaligned ones (sharper; the share drawn stays as the network predicts it).
    """

    kind: Kind = "dance"
    driving: str = ""
    target: str = ""
    out: str = "out/transfer.mp4"
    generator: Generator | None = None
    preset: str = "cpu-small"
    train: list[str] = field(default_factory=list)
    model: str | None = None
    workspace: str | None = None
    target_frames: str = ":"
    driving_frames: str = ":"
    target_track: str | None = None
    driving_track: str | None = None
    retarget: bool = True
    head_pose: Literal["target", "driving"] = "target"
    smoothing: float = 0.7
    choice_temperature: float = 1.0
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
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if not 0 < self.choice_temperature <= 1:
            raise ValueError(f"choice_temperature must be in (0, 1], got {self.choice_temperature}")
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
        lines = [f"result: {self.out}", f"report: {self.report}", f"workspace: {self.workspace}"]
        lines += [describe_metrics(self.metrics)]
        return "\n".join(lines)


def describe_metrics(metrics: dict[str, float]) -> str:
    """One line per method: its figures, and the failure when its keypoints were rarely found."""
    lines = [f"evaluated on {int(metrics['frames'])} frames" if "frames" in metrics else "not evaluated"]
    for method in METHODS:
        figures = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith(f"{method}/")}
        if not figures:
            continue
        text = ", ".join(f"{k} {v:.4g}" for k, v in figures.items())
        found = figures.get("found", 1.0)
        failure = f"  FAILED: keypoints found in only {found:.0%} of the frames" if found < MIN_RESULT_FOUND else ""
        lines.append(f"{method}: {text}{failure}")
    return "\n".join(lines)


def model_config(config: MotionTransferConfig) -> ExperimentConfig:
    """The experiment of ``config.preset`` for ``config.generator`` with ``config.train`` applied."""
    named = not Path(config.preset).suffix
    generator = config.generator or ("ref_warp" if named else None)
    prefix = f"{generator}_" + ("" if config.kind == "dance" else "face_")
    preset = CONFIGS / f"{prefix}{config.preset.replace('-', '_')}.yaml" if named else config_source(config.preset)
    if not preset.is_file():
        names = sorted(Path(p.name).stem.removeprefix(prefix).replace("_", "-") for p in CONFIGS.iterdir()
                       if p.name.startswith(prefix) and p.name.endswith(".yaml"))
        raise InputError(preset, f"no such preset; choose one of {', '.join(names)} or give a config path")
    experiment = load_config(ExperimentConfig, preset, config.train)
    if experiment.family not in ("ref_warp", "vid2vid") or generator not in (None, experiment.family):
        raise InputError(preset, f"is a {experiment.family} config; the generator is {generator or 'ref_warp or vid2vid'}")
    return experiment


def frame_size(experiment: ExperimentConfig, footage: tuple[int, int]) -> tuple[int, int]:
    """The model's ``(H, W)``: ``data.size`` when it is ``[H, W]``; when it is one number S, the
    size of S x S pixels at the aspect of the target ``footage (H, W)`` (portrait dancers stay
    whole), both sides multiples of what the generator needs."""
    size = experiment.data.get("size")
    if size is None:
        raise VidganError("a preset for a workflow must set data.size ([H, W] or H)")
    if not isinstance(size, int):
        return int(size[0]), int(size[1])
    multiple = _size_multiple(experiment)
    aspect = footage[1] / footage[0]
    height, width = size / aspect**0.5, size * aspect**0.5
    return (max(multiple, round(height / multiple) * multiple), max(multiple, round(width / multiple) * multiple))


def _size_multiple(experiment: ExperimentConfig) -> int:
    model = experiment.model
    if experiment.family == "ref_warp":
        return 2 ** len(model.get("channels", (32, 64, 128, 256)))
    return 2 ** (model.get("n_downsample", 3) + model.get("n_scales", 1) - 1)


def pingpong(count: int, length: int) -> np.ndarray:
    """``(count,)`` indices into ``length`` frames going forth and back (0, 1, .., n-1, n-2, .., 1, 0, 1, ..)."""
    if length == 1:
        return np.zeros(count, np.int64)
    period = np.arange(count) % (2 * length - 2)
    return np.where(period < length, period, 2 * length - 2 - period)


def retarget(kind: Kind, driving: Keypoints, target: Keypoints, head_pose: str = "target") -> Keypoints:
    """Driving keypoints moved onto the target. Bodies: Everybody Dance Now's global pose
    normalisation. Faces: the driving expressions on the target's neutral face
    (:func:`transfer_expression`), then posed like the target's frame :func:`pingpong` (i) of
    the target track (``head_pose="target"``) or moved as the driving head moves from its neutral
    face (``"driving"``)."""
    if kind == "dance":
        return PoseNormalizer().fit(driving, target)(driving)
    target_neutral, driving_neutral = _neutral_face(target), _neutral_face(driving)
    expressions = transfer_expression(driving, target_neutral, driving_neutral)
    stable = list(STABLE_FACE_POINTS)
    if head_pose == "target":
        poses = target.xy[pingpong(len(driving), len(target))]
        motion = _similarities(target_neutral[:, :2], poses, stable)
    else:
        to_target = _similarities(driving_neutral[:, :2], target_neutral[None, :, :2], stable)[0]
        back = _similarities(target_neutral[:, :2], driving_neutral[None, :, :2], stable)[0]
        driven = _similarities(driving_neutral[:, :2], driving.xy, stable)
        motion = np.stack([_compose(to_target, _compose(d, back)) for d in driven])
    points = expressions.points.copy()
    moved = apply_transform(torch.from_numpy(motion), torch.from_numpy(points[..., :2].astype(np.float64)))
    points[..., :2] = moved.numpy()
    return expressions.with_points(points)


def _similarities(source: np.ndarray, targets: np.ndarray, stable: list[int]) -> np.ndarray:
    """``(T, 2, 3)`` similarities taking ``source (K, 2)`` onto each of ``targets (T, K, 2)`` on
    the ``stable`` points; the identity where a target has fewer than two of them."""
    result = np.tile(np.eye(2, 3), (len(targets), 1, 1))
    usable = np.isfinite(targets[:, stable]).all(-1).sum(-1) >= 2
    if usable.any():
        sources = torch.from_numpy(np.repeat(source[None, stable].astype(np.float64), usable.sum(), axis=0))
        result[usable] = estimate_similarity(sources, torch.from_numpy(targets[usable][:, stable].astype(np.float64))).numpy()
    return result


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` affine ``outer(inner(x))``."""
    a, b = np.vstack([outer, [0, 0, 1]]), np.vstack([inner, [0, 0, 1]])
    return (a @ b)[:2]


def _neutral_face(track: Keypoints) -> np.ndarray:
    """``(68, 3)``: the per-point median over the frames that show the whole face (one frame's
    face may have closed eyes or an open mouth; the median is the resting face)."""
    complete = track.visible.all(axis=1)
    if not complete.any():
        raise VidganError(f"{track.video_id or 'a track'}: no frame shows the whole face (needed for its neutral face)")
    return np.median(track.points[complete], axis=0)


def run_motion_transfer(config: MotionTransferConfig, *, log: TextIO | None = None) -> MotionTransferReport:
    """Run (or resume) every step and return where the result and its report are."""
    out = Path(config.out)
    experiment = model_config(config)
    config = replace(config, generator=experiment.family)
    check_output(out, [config.driving, config.target, config.target_track, config.driving_track], VIDEO_SUFFIXES)
    driving_info, target_info = probe(config.driving), probe(config.target)
    size = frame_size(experiment, target_info.size if config.kind == "dance" else (1, 1))  # faces: square crops
    if config.model is not None and not Path(config.model).is_dir():
        raise InputError(config.model, "no such model folder")
    clips = {
        "target": (config.target, frame_range(config.target_frames, target_info.frames, path=config.target), target_info),
        "driving": (config.driving, frame_range(config.driving_frames, driving_info.frames, path=config.driving),
                    driving_info),
    }
    _check_given(config)
    workspace = Workspace(config.workspace or out.with_name(out.stem + ".work"), log=log)
    inputs = {"kind": config.kind, "size": size,
              **{name: [file_digest(video), span] for name, (video, span, _) in clips.items()}}
    given = {"target": config.target_track, "driving": config.driving_track}
    track_inputs = {**inputs, "tracking": asdict(config.tracking),
                    "given": {k: file_digest(v) if v else None for k, v in given.items()}}
    workspace.step("tracks", track_inputs, ["target_track_raw.npz", "driving_track_raw.npz"],
                   lambda: _tracks(config, clips, given, workspace))
    _require_found(config, clips, workspace)

    same_video = Path(config.driving).resolve() == Path(config.target).resolve()
    workspace.step("clips", track_inputs, ["target.mp4", "driving.mp4", "target_track.npz", "driving_track.npz",
                                           "fits.json"],
                   lambda: _write_clips(config, clips, size, same_video, workspace))
    target = load_tracks(workspace.path("target_track.npz"))[0]
    driving_raw = load_tracks(workspace.path("driving_track.npz"))[0]

    def write_retargeted() -> None:
        moved = retarget(config.kind, driving_raw, target, config.head_pose) if config.retarget else driving_raw
        moved.save(workspace.path("retargeted.npz"))

    retarget_inputs = {**track_inputs, "retarget": config.retarget, "head_pose": config.head_pose}
    workspace.step("retarget", retarget_inputs, ["retargeted.npz"], write_retargeted)
    driving = load_tracks(workspace.path("retargeted.npz"))[0]

    face_refine = bool(experiment.model.get("face_refine", False))
    model_dir = Path(config.model) if config.model else workspace.path("train") / "model"
    if config.model is None:
        dataset_inputs = {**track_inputs, "generator": config.generator, "face_refine": face_refine}
        workspace.step("dataset", dataset_inputs, ["dataset"],
                       lambda: _write_dataset(config.generator, workspace, target, size, face_refine))
        training = _training_config(experiment, workspace, size)
        workspace.step("train", {**dataset_inputs, "experiment": asdict(training)}, ["train/model"],
                       lambda: _train(training, workspace))

    maps = render_track(driving, size)
    generate_inputs = {**retarget_inputs, "retargeted": file_digest(workspace.path("retargeted.npz")),
                       "generator": config.generator,
                       "smoothing": [config.smoothing, SMOOTHING_LOW_PASS], "choice": config.choice_temperature,
                       "model": file_digest(model_dir / "model.safetensors"), "chunk": config.chunk, "lossless": True}
    outputs = [f"{method}.mp4" for method in METHODS] + ["frame_by_frame.mp4", "references.npy"]
    workspace.step("generate", generate_inputs, outputs,
                   lambda: _generate(config, model_dir, maps, driving, face_refine, workspace))
    fps = driving_info.fps
    # what was generated, not only how: a regenerated video (an output removed by hand) is composed again
    compose_inputs = {**generate_inputs, "out": str(out.resolve()),
                      "generated": {name: file_digest(workspace.path(name)) for name in outputs[:-1]}}
    workspace.step("compose", compose_inputs, [str(out.resolve()), *(f"composed_{m}.mp4" for m in METHODS[:-1]),
                                               "panel.mp4"],
                   lambda: _compose_all(config, clips, driving, maps, out, fps, workspace))

    metrics: dict[str, float] = {}
    if config.evaluate:
        workspace.step("evaluate", {**compose_inputs, "out": file_digest(out)}, ["metrics.json"],
                       lambda: _evaluate(config, clips, driving, target, out, workspace))
        metrics = json.loads(workspace.path("metrics.json").read_text())
    report = _report(config, out, workspace, metrics, model_dir)
    return MotionTransferReport(out, report, metrics, workspace.root)


def _check_given(config: MotionTransferConfig) -> None:
    """Given keypoint tracks and a given model must be of the run's kind (a face track or a face
    model cannot drive a dance), checked before any work."""
    skeleton = "coco17" if config.kind == "dance" else "ibug68"
    for path in (config.target_track, config.driving_track):
        if path:
            tracks = load_tracks(path)
            if not tracks:
                raise InputError(path, "holds no keypoint track")
            if tracks[0].skeleton.name != skeleton:
                raise InputError(path, f"holds {tracks[0].skeleton.name} keypoints; a "
                                       f"{'dance' if config.kind == 'dance' else 'face'} needs {skeleton}")
    if config.model is not None:
        references = Path(config.model) / REFERENCES_FILE
        if not references.is_file():
            raise InputError(config.model, f"no {REFERENCES_FILE}: not a model trained by vidgan transfer/reenact")
        model_skeleton = ReferenceFrames.skeleton_of(references)
        if model_skeleton != skeleton:
            raise InputError(config.model, f"is a model of {model_skeleton} keypoints (a "
                                           f"{'face' if model_skeleton == 'ibug68' else 'body'}); this run needs "
                                           f"{skeleton}")


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


def _require_found(config: MotionTransferConfig, clips: dict[str, Any], workspace: Workspace) -> None:
    """Refuse (before training) a video whose face/body is found in too few selected frames."""
    for name, (video, (start, stop), _) in clips.items():
        tracks = load_tracks(workspace.path(f"{name}_track_raw.npz"))
        found = float(tracks[0].detected_frames.mean()) if tracks else 0.0
        if found < MIN_FOUND:
            raise InputError(video, f"a {config.tracking.what} is found in {found:.0%} of frames {start}:{stop} "
                                    f"(at least {MIN_FOUND:.0%} needed)")


def _write_clips(config: MotionTransferConfig, clips: dict[str, Any], size: tuple[int, int], same_video: bool,
                 workspace: Workspace) -> None:
    """Both ranges fitted to the model size, their keypoints moved along, and the fits kept."""
    raw = {name: load_tracks(workspace.path(f"{name}_track_raw.npz"))[0] for name in clips}
    fits = {}
    for name, (video, (start, stop), info) in clips.items():
        if config.kind == "dance":
            fit = Fit(info.size, size)
        else:  # faces: around the face; the same framing for both when they are one video
            around = [raw["target"], raw["driving"]] if same_video else [raw[name]]
            fit = Fit.around(around, info.size, size)
        write_fitted_clip(video, start, stop, fit, workspace.path(f"{name}.mp4"))
        fit.keypoints(raw[name]).save(workspace.path(f"{name}_track.npz"))
        fits[name] = fit.crop
    with atomic_path(workspace.path("fits.json")) as temporary:
        temporary.write_text(json.dumps(fits))


def _write_dataset(generator: str, workspace: Workspace, target: Keypoints, size: tuple[int, int],
                   face_refine: bool) -> None:
    """``dataset/references.npz`` (the target's frames, keypoints and maps: what ``ref_warp``
    trains on and what every generator's baselines draw from), and for ``vid2vid`` its paired
    clips beside it."""
    frames = np.stack(list(VideoReader(workspace.path("target.mp4"))))
    if len(frames) != len(target):
        raise VidganError(f"{workspace.path('target.mp4')}: {len(frames)} frames but {len(target)} keypoint frames")
    maps = render_track(target, size)
    folder = workspace.path("dataset")
    folder.mkdir(exist_ok=True)
    ReferenceFrames(frames, target.points, maps, target.skeleton.name).save(folder / REFERENCES_FILE)
    if generator == "vid2vid":
        from vidgan.data.paired_video import write_paired_dataset

        write_paired_dataset(frames, maps, folder, face_boxes=head_boxes(target) if face_refine else None,
                             sequence_id="target")


def _training_config(experiment: ExperimentConfig, workspace: Workspace, size: tuple[int, int]) -> ExperimentConfig:
    data = {**experiment.data, "size": list(size)}
    if experiment.family == "ref_warp":
        data = {k: v for k, v in data.items() if k != "size"}
        data["file"] = str((workspace.path("dataset") / REFERENCES_FILE).resolve())
    else:
        data["folder"] = str(workspace.path("dataset").resolve())
    return ExperimentConfig(family=experiment.family, model=experiment.model, data=data, losses=experiment.losses,
                            train=experiment.train)


def _train(experiment: ExperimentConfig, workspace: Workspace) -> None:
    """Train into ``train/``, resuming its checkpoints only if they come from the same settings
    (a longer budget continues the run; any other change starts a new one). The model folder
    gets the target's reference frames (``ref_warp`` draws from them; the baselines of a later
    run with ``model=DIR`` too)."""
    import shutil

    import yaml

    from vidgan.config import to_dict
    from vidgan.train.experiment import CONFIG_FILE, run_experiment

    def comparable(config: dict) -> dict:
        return {**config, "train": {k: v for k, v in config["train"].items() if k not in ("iterations", "minutes")}}

    saved = workspace.path("train") / CONFIG_FILE
    resume = saved.exists() and comparable(yaml.safe_load(saved.read_text())) == comparable(to_dict(experiment))
    if saved.exists() and not resume:
        print("[train] the settings changed: training a new model", file=workspace.log)
    result = run_experiment(experiment, workspace.path("train"), resume=resume)
    if result.exported is not None:
        shutil.copyfile(workspace.path("dataset") / REFERENCES_FILE, Path(result.exported) / REFERENCES_FILE)


def _generate(config: MotionTransferConfig, model_dir: Path, maps: np.ndarray, driving: Keypoints,
              face_refine: bool, workspace: Workspace) -> None:
    """Model-size frames of every method, as lossless videos in the workspace (x264 crf 0: the
    figures measured on them see the generator, not a second encoding), and the
    reference chosen for each frame (``references.npy``)."""
    bank = ReferenceFrames.load(workspace.path("dataset") / REFERENCES_FILE) if config.model is None \
        else ReferenceFrames.load(model_dir)
    model = None
    if config.generator == "ref_warp":
        from vidgan.models.ref_warp import RefWarp

        model = RefWarp.from_pretrained(model_dir)
        references = model.config["references"]
    else:
        references = 1
    gap = 8
    chosen = PoseIndex.for_skeleton(bank.points, driving.skeleton).follow(driving.points, references, separation=gap)
    np.save(workspace.path("references.npy"), chosen)
    fps = fps_of(workspace.path("driving.mp4"))

    def write(name: str, batches) -> None:
        with VideoWriter(workspace.path(f"{name}.mp4"), fps, crf=0, preset="veryfast") as writer:
            for frames in progress(batches, desc=f"generate {name}"):
                writer.write_all(frames)

    write("nearest", (bank.frames[chosen[start : start + 32, 0]] for start in range(0, len(chosen), 32)))
    write("warp_only", warp_frames(bank.frames, bank.points, chosen[:, 0], driving.points))
    if model is not None:
        from vidgan.nn.device import resolve_device

        model = model.to(resolve_device(config.device)).eval()
        write("frame_by_frame", model.render(maps, driving.points, bank.frames, bank.points, chosen,
                                             choice_temperature=config.choice_temperature))
        blender = FlowBlender(config.smoothing, low_pass=SMOOTHING_LOW_PASS)
        write("result", ([blender(frame) for frame in frames] for frames in
                         [[*VideoReader(workspace.path("frame_by_frame.mp4"))]]))
        return
    from vidgan.models.vid2vid import Vid2Vid
    from vidgan.stages.generate import generate_video

    model = Vid2Vid.from_pretrained(model_dir)
    boxes = head_boxes(driving) if face_refine else None
    for name, temporal in (("result", True), ("frame_by_frame", False)):
        generate_video(model, maps, workspace.path(f"{name}.mp4"), fps, face_boxes=boxes, temporal=temporal,
                       chunk=config.chunk, device=config.device, crf=0)


def _compose_all(config: MotionTransferConfig, clips: dict[str, Any], driving: Keypoints, maps: np.ndarray,
                 out: Path, fps: Any, workspace: Workspace) -> None:
    """The output (with the driving audio when it has some), each baseline composed alike, and
    the panel driving | maps | nearest | warp only | result (model size)."""
    video, (start, _), info = clips["driving"]
    audio = {"audio_from": video, "audio_start": start / float(info.fps)} if info.has_audio else {}
    for method in METHODS:
        target = out if method == "result" else workspace.path(f"composed_{method}.mp4")
        frames = VideoReader(workspace.path(f"{method}.mp4"))
        with VideoWriter(target, fps, crf=18, preset="veryfast", **(audio if method == "result" else {})) as writer:
            if config.kind == "dance":
                scale = body_output_scale(driving.image_size)
                for frame in progress(frames, total=len(driving), desc=f"compose {method}"):
                    writer.write(frame if scale == 1 else cv2.resize(frame, None, fx=scale, fy=scale,
                                                                     interpolation=cv2.INTER_CUBIC))
            else:
                for frame in _face_composites(clips, driving, frames, workspace, method):
                    writer.write(frame)
    with VideoWriter(workspace.path("panel.mp4"), fps, crf=20, preset="veryfast") as writer:
        columns = [VideoReader(workspace.path("driving.mp4")), maps,
                   *(VideoReader(workspace.path(f"{m}.mp4")) for m in METHODS)]
        for row in zip(*columns, strict=False):
            row = [np.repeat(c, 3, axis=2) if c.shape[2] == 1 else c for c in row]
            writer.write(np.concatenate(row, axis=1))


def body_output_scale(size: tuple[int, int]) -> float:
    """How much a body model's frames ``(H, W)`` are enlarged (bicubic) in the output so that its
    long side is at least :data:`MIN_LONG_SIDE` pixels (1: as they are)."""
    return max(1.0, MIN_LONG_SIDE / max(size))


def _face_composites(clips: dict[str, Any], driving: Keypoints, crops: VideoReader, workspace: Workspace,
                     method: str):
    """Target frames at full resolution (frame :func:`pingpong` (i) of its range) with crop i
    pasted back where it was cut (its border feathered): every pixel outside the crop stays the
    target's. The whole crop is pasted, hair and neck included, so that a head that moves unlike
    the target frame's is never shown twice."""
    video, (start, stop), _ = clips["target"]
    x0, y0, width, height = json.loads(workspace.path("fits.json").read_text())["target"]
    originals = np.stack(list(VideoReader(video).frames(start, stop)))
    base = pingpong(len(driving), len(originals))
    for i, crop in enumerate(progress(crops, total=len(driving), desc=f"compose {method}")):
        size = crop.shape[0]
        transform = torch.tensor([[[size / width, 0, -x0 * size / width], [0, size / height, -y0 * size / height]]],
                                 dtype=torch.float64)
        image = torch.from_numpy(originals[base[i]]).permute(2, 0, 1)[None].double()
        pasted = paste_back(image, torch.from_numpy(crop).permute(2, 0, 1)[None].double(), transform, PASTE_FEATHER)
        yield pasted[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def _evaluate(config: MotionTransferConfig, clips: dict[str, Any], driving: Keypoints, target: Keypoints,
              out: Path, workspace: Workspace) -> None:
    """Every method's figures (module docstring), on the frames it outputs."""
    from vidgan.metrics import (
        detection_rate,
        mouth_correlation,
        nme,
        pck,
        region_masks,
        sharpness_ratio,
        warping_error,
    )

    face = config.kind == "face"
    # the outputs are full target frames (faces) or upscaled model frames (bodies): scored in their pixels
    if face:
        expected = _to_source(driving, json.loads(workspace.path("fits.json").read_text())["target"], driving.image_size)
    else:
        height, width = driving.image_size
        scale = body_output_scale(driving.image_size)
        expected = _to_source(driving, [0, 0, round(width * scale), round(height * scale)], driving.image_size)
    metrics: dict[str, float] = {"frames": float(len(driving))}
    extractor = ExtractTrack({**asdict(config.tracking), "smooth": "none"})
    real = np.stack(list(VideoReader(workspace.path("target.mp4"))))
    # the real target's region of the same body parts: those the driving shows in most frames (a
    # dancer seen from the hips up drives no legs, so the legs' texture is not asked of the result)
    shown = driving.visible.mean(axis=0) >= 0.5
    real_masks = region_masks(np.where(shown[None, :, None], target.points, np.nan), real.shape[1:3])
    for method in METHODS:
        video = out if method == "result" else workspace.path(f"composed_{method}.mp4")
        frames = np.stack(list(VideoReader(video)))
        track = _extract(extractor, video, len(frames), workspace.path(f"{method}_track.npz"), driving)
        figures = {"found": detection_rate(track)}
        if face:
            figures.update({"nme": nme(track, expected), "mouth_corr": mouth_correlation(track, expected)})
        else:
            figures.update({"pck@0.2": pck(track, expected, alpha=0.2), "pck@0.1": pck(track, expected, alpha=0.1)})
        model_frames = np.stack(list(VideoReader(workspace.path(f"{method}.mp4"))))
        figures["sharpness"] = sharpness_ratio(model_frames, real, region_masks(driving, real.shape[1:3]), real_masks)
        figures["warping_error"] = warping_error(frames)
        metrics.update({f"{method}/{k}": v for k, v in figures.items()})
    metrics["frame_by_frame/warping_error"] = warping_error(np.stack(list(VideoReader(workspace.path("frame_by_frame.mp4")))))
    with atomic_path(workspace.path("metrics.json")) as temporary:
        temporary.write_text(json.dumps(metrics, indent=2))


def _to_source(keypoints: Keypoints, box: list[int], size: tuple[int, int]) -> Keypoints:
    """Keypoints of a fitted clip (``size``) back in the source pixels of the fit's ``box``."""
    x0, y0, width, height = box
    points = keypoints.points.copy()
    points[..., 0] = points[..., 0] * width / size[1] + x0
    points[..., 1] = points[..., 1] * height / size[0] + y0
    return keypoints.with_points(points)


def _extract(extractor: ExtractTrack, video: Path, frames: int, out: Path, like: Keypoints) -> Keypoints:
    [row] = batch_to_rows(extractor(rows_to_batch([{"video": str(video), "start": 0, "stop": frames, "out": str(out)}])))
    if row["status"] != "written":
        raise InputError(video, f"keypoint extraction failed: {row['error']}")
    tracks = load_tracks(out)
    return tracks[0] if tracks else Keypoints.missing(frames, like.skeleton)


def _report(config: MotionTransferConfig, out: Path, workspace: Workspace, metrics: dict[str, float],
            model_dir: Path) -> Path:
    from vidgan.train.logger import read_metrics

    records = read_metrics(workspace.path("train")) if config.model is None else []
    steps = ("tracks", "clips", "retarget", "dataset", "train", "generate", "compose", "evaluate")
    what = "dance transfer" if config.kind == "dance" else "face reenactment"
    return write_report(
        out.with_name(out.stem + ".report.html"),
        title=f"vidgan {what}: {Path(config.driving).name} -> {Path(config.target).name}",
        video=workspace.path("panel.mp4"),
        caption="driving | conditioning (retargeted to the target) | nearest target frame | warp only | result",
        metrics=metrics, methods=METHODS, records=records, timings={s: workspace.seconds(s) for s in steps},
        settings={"generator": config.generator, "preset": config.preset, "model": str(model_dir),
                  "target frames": config.target_frames, "driving frames": config.driving_frames,
                  "head pose": config.head_pose, "overrides": " ".join(config.train) or "-"},
        notes=describe_metrics(metrics).splitlines(),
    )
