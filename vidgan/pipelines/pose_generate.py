"""``vidgan pose-generate``: one photo of a person, animated along a pose sequence with PG2.

1. the photo's person keypoints: extracted with the body extractor (mediapipe) or given
   (``image_pose``, a keypoints ``.npz``);
2. the photo fitted to the model's size around that person (:class:`vidgan.pipelines.footage.Fit`,
   ``margin`` times the keypoints' box, as ``vidgan preprocess`` crops bodies);
3. the driving poses: a keypoints ``.npz`` or extracted from a driving video (the
   :class:`~vidgan.stages.tracks.ExtractTrack` stage), the frames ``frames`` only, smoothed in
   time (:class:`~vidgan.keypoints.Smoother`, ``smooth``) and moved into the fitted photo's
   framing by a scale and translation (least squares on the head, shoulders, hips, knees and
   ankles of the driving median pose against the photo's pose);
4. one frame per pose from the model (``stage`` 2: refined, 1: coarse), in batches;
5. temporal smoothing of the output: each frame is blended with the previous output warped onto
   it (DIS flow of the two with a forward-backward occlusion check, :func:`vidgan.nn.flow_warp`),
   weight ``blend`` where the flow is trusted (0: off);
6. encoded with PyAV (H.264, atomically) at the poses' frame rate.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from vidgan.pipelines.footage import Fit, frame_range
from vidgan.errors import ConfigError, InputError
from vidgan.io import VideoWriter, read_image
from vidgan.io.images import check_image
from vidgan.io.atomic import VIDEO_SUFFIXES, check_output
from vidgan.keypoints import COCO17, Keypoints, Smoother, load_tracks
from vidgan.keypoints.extract import ExtractSettings, FrameKeypointer
from vidgan.progress import progress
from vidgan.stages.base import batch_to_rows, rows_to_batch
from vidgan.stages.blend import FlowBlender
from vidgan.stages.tracks import ExtractTrack, TrackSettings
from vidgan.nn.device import resolve_device

__all__ = ["PoseGenerateConfig", "PoseGenerateReport", "fit_scale_translation", "run_pose_generate"]

#: Joints whose place says where a body is and how tall it is (arms vary too much with the pose).
FRAMING_JOINTS = ("nose", "shoulder", "hip", "knee", "ankle")


@dataclass(frozen=True)
class PoseGenerateConfig:
    """A run of ``vidgan pose-generate`` (module docstring for the steps).

    ``image``: the person's photo; ``poses``: a keypoints ``.npz`` (its first track) or a driving
    video; ``model``: a trained pose-guided model folder (or a run folder holding ``model/``);
    ``image_pose``: the photo's keypoints (``.npz``, first frame of its first track) instead of
    extracting them; ``frames``: Python slice of the poses (``0:100``); ``smooth``: temporal filter
    of the poses (``none`` keeps them); ``normalize``: move the poses into the photo's framing
    (false: they are in its pixels already); ``margin``: the person's keypoint box times this is
    the model's frame; ``blend``: weight of the warped previous output (0 disables the output
    smoothing); ``stage``: 2 refined, 1 coarse.
    """

    image: str = ""
    poses: str = ""
    out: str = "out/pose_generate.mp4"
    model: str = ""
    image_pose: str | None = None
    frames: str = ":"
    smooth: str = "kalman"
    normalize: bool = True
    margin: float = 1.2
    blend: float = 0.5
    stage: int = 2
    batch: int = 16
    device: str = "auto"
    tracking: TrackSettings = field(default_factory=TrackSettings)

    def __post_init__(self) -> None:
        if not (self.image and self.poses and self.model):
            raise ValueError("pose-generate needs an image, poses (.npz or a video) and a model folder")
        if not 0 <= self.blend < 1:
            raise ValueError(f"blend must be in [0, 1), got {self.blend}")
        if self.stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {self.stage}")
        if self.tracking.what != "body":
            raise ValueError("pose-generate tracks bodies: tracking.what must be body")


@dataclass(frozen=True)
class PoseGenerateReport:
    """What a run wrote: the video, its frame count and how long it took."""

    out: Path
    frames: int
    poses: Path | None
    seconds: float

    def describe(self) -> str:
        extracted = f"\nposes: {self.poses}" if self.poses else ""
        return f"result: {self.out} ({self.frames} frames in {self.seconds:.1f} s){extracted}"


def fit_scale_translation(poses: np.ndarray, reference: np.ndarray, joints: list[int]) -> tuple[float, np.ndarray]:
    """Scale ``s`` and translation ``t (2,)`` minimising ``|s * p + t - r|^2`` over the ``joints``
    seen in both the per-joint median ``p`` of ``poses (T, K, 3)`` and ``reference (K, 3)`` (all
    joints if fewer than two of those are)."""
    median = _median_pose(poses)
    both = np.isfinite(median).all(axis=1) & (reference[:, 2] > 0) & np.isfinite(reference[:, :2]).all(axis=1)
    chosen = [j for j in joints if both[j]]
    chosen = chosen if len(chosen) >= 2 else list(np.flatnonzero(both))
    if len(chosen) < 2:
        raise InputError("poses", "the photo's person and the poses share fewer than two visible keypoints")
    source, target = median[chosen], reference[chosen, :2].astype(np.float64)
    source_centred, target_centred = source - source.mean(axis=0), target - target.mean(axis=0)
    scale = float((source_centred * target_centred).sum() / max((source_centred**2).sum(), 1e-9))
    return scale, target.mean(axis=0) - scale * source.mean(axis=0)


def run_pose_generate(config: PoseGenerateConfig) -> PoseGenerateReport:
    """Animate ``config.image`` along ``config.poses`` with ``config.model`` (module docstring)."""
    from vidgan.models.pose_guided import PoseGuidedGenerator

    check_output(config.out, [config.image, config.poses, config.image_pose], VIDEO_SUFFIXES)
    check_image(config.image)  # before the model loads
    started = time.perf_counter()
    device = resolve_device(config.device)
    model = PoseGuidedGenerator.from_pretrained(config.model, device=device).eval()
    image = read_image(config.image)
    person = _image_pose(config, image)
    fit = Fit.around(person, image.shape[:2], model.size, config.margin)
    person = fit.keypoints(person)
    driving, extracted = _driving_poses(config)
    if config.normalize:
        driving = _into_framing(driving, person)
    out = Path(config.out)
    condition = fit.frame(image)
    blender = FlowBlender(config.blend)
    with VideoWriter(out, driving.fps, crf=18, preset="veryfast") as writer:
        bar = progress(total=len(driving), desc=f"pose-generate {out.name}")
        for start in range(0, len(driving), config.batch):
            frames = model(condition, driving[start : start + config.batch], stage=config.stage, batch=config.batch)
            for frame in frames:
                writer.write(blender(frame))
            bar.update(len(frames))
        bar.close()
    return PoseGenerateReport(out, len(driving), extracted, time.perf_counter() - started)


def _image_pose(config: PoseGenerateConfig, image: np.ndarray) -> Keypoints:
    """The photo's person as a one-frame COCO-17 track in its pixels."""
    if config.image_pose:
        tracks = load_tracks(config.image_pose)
        if not tracks:
            raise InputError(config.image_pose, "holds no keypoint track")
        points = tracks[0].points[:1]
        skeleton = tracks[0].skeleton
    else:
        keypointer = FrameKeypointer(ExtractSettings(what="body", backend=config.tracking.backend,
                                                     weights=config.tracking.weights, device=config.tracking.device))
        points, _ = keypointer(image)
        skeleton = keypointer.skeleton
        if not len(points):
            raise InputError(config.image, "no person found in the image (give image_pose=KEYPOINTS.npz)")
        points = points[:1]
    track = Keypoints(points, skeleton, np.zeros(1), image_size=image.shape[:2])
    if not track.visible.any():
        raise InputError(config.image_pose or config.image, "the person's keypoints are all missing")
    return track


def _driving_poses(config: PoseGenerateConfig) -> tuple[Keypoints, Path | None]:
    """The driving track (smoothed, the ``frames`` range) and where extracted poses were saved."""
    source = Path(config.poses)
    extracted = None
    if source.suffix.lower() == ".npz":
        tracks = load_tracks(source)
        if not tracks:
            raise InputError(source, "holds no keypoint track")
        start, stop = frame_range(config.frames, len(tracks[0]), path=source)
        track = tracks[0][start:stop]
        if config.smooth != "none":
            track = _smoother(config.smooth)(track)
    else:
        from vidgan.io import probe

        start, stop = frame_range(config.frames, probe(source).frames, path=source)
        extracted = Path(config.out).with_suffix(".poses.npz")
        stage = ExtractTrack(asdict(replace(config.tracking, smooth=config.smooth)))
        [row] = batch_to_rows(stage(rows_to_batch([{"video": str(source), "start": start, "stop": stop,
                                                     "out": str(extracted)}])))
        if row["status"] != "written":
            raise InputError(source, f"keypoint extraction failed: {row['error']}")
        tracks = load_tracks(extracted)
        if not tracks or not tracks[0].detected_frames.any():
            raise InputError(source, "no person found in the selected frames")
        track = tracks[0]
    if track.skeleton.name not in (COCO17.name, "openpose18"):
        raise InputError(source, f"holds {track.skeleton.name} keypoints; pose-generate needs body keypoints")
    return track, extracted


def _smoother(name: str) -> Smoother:
    try:
        return Smoother(name)
    except ValueError as error:
        raise ConfigError(f"smooth: {error}") from None


def _into_framing(driving: Keypoints, person: Keypoints) -> Keypoints:
    """``driving`` scaled and moved onto ``person`` (:func:`fit_scale_translation`), in its layout."""
    from vidgan.keypoints import convert_points

    reference = convert_points(person.points, person.skeleton, driving.skeleton)[0]
    joints = [i for i, name in enumerate(driving.skeleton.joints) if any(w in name for w in FRAMING_JOINTS)]
    scale, shift = fit_scale_translation(driving.points, reference, joints)
    points = driving.points.copy()
    points[..., :2] = points[..., :2] * scale + shift.astype(np.float32)
    return replace(driving, points=points, image_size=person.image_size)


def _median_pose(poses: np.ndarray) -> np.ndarray:
    """``(K, 2)`` per-joint median over the frames where the joint is seen (NaN if never)."""
    xy = np.where((poses[..., 2:] > 0) & np.isfinite(poses[..., :2]), poses[..., :2], np.nan).astype(np.float64)
    seen = np.isfinite(xy).all(axis=-1).any(axis=0)
    median = np.full(xy.shape[1:], np.nan)
    median[seen] = np.nanmedian(xy[:, seen], axis=0)
    return median
