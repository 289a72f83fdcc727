"""``vidgan age`` and ``vidgan frontalize``: edit every face of a photo or a video with a face model.

1. faces: detected and tracked through the video (``tracking``: dlib detector + iBUG-68
   landmarks by default), landmarks smoothed in time (Kalman) so the crops are stable; a photo
   is one frame with every face found;
2. crops: each face aligned exactly as the model was trained (:mod:`vidgan.data.face_crops`:
   the model's ``crop_size`` and ``crop_scale``), per track, over its runs of frames where all
   68 landmarks are known (a face lost for a while is left as it is there);
3. edit: Age-cGAN (:class:`~vidgan.models.age_cgan.FaceAger`: to ``target_age``, with its
   identity-preserving latent optimisation) or TP-GAN (:class:`~vidgan.models.tpgan.Frontalizer`);
4. temporal smoothing (``smooth``, video only): the ager keeps one identity per run of a track
   (latents pulled to the track's mean, residuals smoothed over ``temporal_sigma`` frames), and
   every edited crop is blended with the previous one warped by the *input* crops' DIS flow
   (:class:`~vidgan.stages.blend.FlowBlender`, weight ``blend``, where the flow passes the
   forward-backward check);
5. paste back through the inverse alignment with a feathered mask
   (:func:`vidgan.keypoints.align.paste_back`): outside the mask every pixel is the original's;
6. written atomically: a photo as an image, a video (H.264) with the input's audio.

:func:`edit_frames` yields ``(original, edited, mask)`` per frame for callers that measure the
result (``bench/face_edit_proof.py``); :func:`run_face_edit` writes the output file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import cv2
import numpy as np
import torch

from vidgan.pipelines.footage import frame_range
from vidgan.data.face_crops import align_frames
from vidgan.errors import ConfigError, InputError
from vidgan.io import VideoReader, VideoWriter, probe, read_image, write_image
from vidgan.io.atomic import VIDEO_SUFFIXES, check_output
from vidgan.io.images import IMAGE_SUFFIXES, check_image
from vidgan.keypoints import Keypoints, Smoother
from vidgan.keypoints.align import face_transform, paste_back, paste_mask
from vidgan.keypoints.extract import ExtractSettings, FrameKeypointer, extract_video
from vidgan.nn.identity import IdentityLoss, identity_loss_or_none
from vidgan.progress import progress
from vidgan.stages.blend import FlowBlender
from vidgan.stages.tracks import TrackSettings
from vidgan.nn.device import resolve_device
from vidgan.nn.images import to_tensor, to_uint8

if TYPE_CHECKING:
    from vidgan.models.age_cgan import FaceAger
    from vidgan.models.tpgan import Frontalizer

__all__ = ["FaceEditConfig", "FaceEditReport", "FaceEditor", "edit_frames", "load_editor", "run_face_edit"]


@dataclass(frozen=True)
class FaceEditConfig:
    """A run of ``vidgan age`` / ``vidgan frontalize`` (module docstring for the steps).

    ``input``: a photo or a video; ``model``: a trained Age-cGAN (``edit: age``) or TP-GAN
    (``edit: frontalize``) folder, or its training run folder; ``target_age``: years (age only);
    ``steps``: identity-preserving optimisation steps of the ager (0: the encoder's latent);
    ``identity_weights``: a TorchScript face-embedding file for that optimisation (default: the
    ager's pixel + landmark objective); ``smooth``: temporal smoothing on video (off: every frame
    edited on its own); ``temporal_sigma``: frames over which the ager's latents are smoothed;
    ``blend``: weight of the flow-warped previous edited crop; ``feather``: width of the paste
    mask's soft edge (fraction of the crop); ``frames``: Python slice of the video's frames."""

    input: str = ""
    out: str = ""
    model: str = ""
    edit: Literal["age", "frontalize"] = "age"
    target_age: float = 60.0
    steps: int = 20
    identity_weights: str | None = None
    smooth: bool = True
    temporal_sigma: float = 3.0
    blend: float = 0.5
    feather: float = 0.15
    frames: str = ":"
    batch: int = 32
    device: str = "auto"
    tracking: TrackSettings = field(default_factory=lambda: TrackSettings(what="face"))

    def __post_init__(self) -> None:
        if not (self.input and self.out and self.model):
            raise ValueError(f"{self.edit} needs an input (photo or video), an output path and a model folder")
        if self.edit not in ("age", "frontalize"):
            raise ValueError(f"edit must be age or frontalize, got {self.edit!r}")
        if not 0 <= self.blend < 1:
            raise ValueError(f"blend must be in [0, 1), got {self.blend}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.tracking.what != "face":
            raise ValueError("face editing tracks faces: tracking.what must be face")


@dataclass(frozen=True)
class FaceEditReport:
    """What a run wrote."""

    out: Path
    frames: int
    faces: int
    edited: int
    seconds: float

    def describe(self) -> str:
        return (f"result: {self.out} ({self.frames} frames, {self.faces} face track(s), {self.edited} face crops "
                f"edited, {self.seconds:.1f} s)")


class FaceEditor(Protocol):
    """A face model as the pipeline uses it: aligned crops in, edited crops out."""

    crop_size: int
    crop_scale: float
    device: torch.device

    def __call__(self, crops: torch.Tensor, landmarks: torch.Tensor, smooth: bool) -> torch.Tensor:
        """Edit one run of a track: ``crops (T, 3, S, S)`` in [-1, 1], ``landmarks (T, 68, 2)`` in
        crop pixels; ``smooth``: keep one identity over the run (the frames are consecutive)."""


@dataclass
class _Ager:
    """A :class:`~vidgan.models.age_cgan.FaceAger` as a :class:`FaceEditor`."""

    model: FaceAger
    config: FaceEditConfig
    identity: IdentityLoss | None

    def __getattr__(self, name: str):  # crop_size, crop_scale, device
        return getattr(self.model, name)

    def __call__(self, crops: torch.Tensor, landmarks: torch.Tensor, smooth: bool) -> torch.Tensor:
        sigma = self.config.temporal_sigma if smooth else 0.0
        return self.model.age_video(crops, self.config.target_age, landmarks, steps=self.config.steps,
                                    temporal_sigma=sigma, identity=self.identity)


@dataclass
class _Frontalizer:
    """A :class:`~vidgan.models.tpgan.Frontalizer` as a :class:`FaceEditor` (in batches)."""

    model: Frontalizer
    batch: int

    def __getattr__(self, name: str):  # crop_size, crop_scale, device
        return getattr(self.model, name)

    def __call__(self, crops: torch.Tensor, landmarks: torch.Tensor, smooth: bool) -> torch.Tensor:
        return torch.cat([self.model.frontalize(c, p) for c, p in zip(crops.split(self.batch),
                                                                      landmarks.split(self.batch))])


def load_editor(config: FaceEditConfig) -> FaceEditor:
    """The model of ``config`` (on its device, eval mode) wrapped as a :class:`FaceEditor`."""
    device = resolve_device(config.device)
    if config.edit == "age":
        from vidgan.models.age_cgan import FaceAger

        identity = identity_loss_or_none(config.identity_weights)
        return _Ager(FaceAger.from_pretrained(config.model, device=device).eval(), config,
                     None if identity is None else identity.to(device))
    from vidgan.models.tpgan import Frontalizer

    return _Frontalizer(Frontalizer.from_pretrained(config.model, device=device).eval(), config.batch)


def is_image(path: str | Path) -> bool:
    """Whether ``path`` is a photo (by its suffix) rather than a video."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def edit_frames(config: FaceEditConfig, editor: FaceEditor | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(original, edited, mask)`` of every frame of ``config.input`` (a photo: one frame):
    RGB uint8 ``(H, W, 3)`` frames and the float ``(H, W)`` paste weight (0: original pixel)."""
    check_input(config)
    editor = editor or load_editor(config)
    if is_image(config.input):
        image = read_image(config.input)
        keypointer = FrameKeypointer(_extract_settings(config))
        runs = [_Run(0, face[None, :, :2].astype(np.float64), editor) for face in keypointer(image)[0]]
        if not runs:
            raise InputError(config.input, "no face found in the photo")
        for run in runs:
            run.add_crop(image)
            run.edit(editor, config, smooth=False)
        yield image, *_paste(image, 0, runs, editor, config.feather)
        return
    reader = VideoReader(config.input)  # probed once; each pass below decodes anew
    start, stop = frame_range(config.frames, len(reader), path=config.input)
    runs = [run for track in _face_tracks(config, start, stop) for run in _runs(track, editor)]
    if runs:
        for index, frame in progress(reader.indexed_frames(start, stop), total=stop - start, desc="crop faces"):
            for run in runs:
                if run.covers(index):
                    run.add_crop(frame)
        for run in progress(runs, desc=f"{config.edit} faces"):
            run.edit(editor, config, smooth=config.smooth and len(run.landmarks) > 1)
    for index, frame in progress(reader.indexed_frames(start, stop), total=stop - start, desc="paste faces"):
        yield frame, *_paste(frame, index, runs, editor, config.feather)


def run_face_edit(config: FaceEditConfig) -> FaceEditReport:
    """Edit ``config.input`` into ``config.out`` (module docstring); what was written."""
    started = time.perf_counter()
    check_input(config)
    check_output(config.out, [config.input], IMAGE_SUFFIXES if is_image(config.input) else VIDEO_SUFFIXES)
    editor = load_editor(config)
    out = Path(config.out)
    if is_image(config.input):
        _, result, mask = next(edit_frames(config, editor))
        write_image(out, result)
        return FaceEditReport(out, 1, _faces_in(mask), _faces_in(mask), time.perf_counter() - started)
    info = probe(config.input)
    start, _ = frame_range(config.frames, info.frames, path=config.input)
    frames = faces = edited = 0
    with VideoWriter(out, info.fps, crf=18, preset="veryfast", audio_from=config.input if info.has_audio else None,
                     audio_start=float(start / info.fps)) as writer:
        for _, result, mask in edit_frames(config, editor):
            writer.write(result)
            frames += 1
            faces_here = _faces_in(mask)
            edited += faces_here
            faces = max(faces, faces_here)
    return FaceEditReport(out, frames, faces, edited, time.perf_counter() - started)


def check_input(config: FaceEditConfig) -> None:
    """Fail early, naming the file, on an input that does not exist or a target age out of range."""
    if is_image(config.input):
        check_image(config.input)
    else:
        probe(config.input)
    if config.edit == "age" and not 0 <= config.target_age <= 120:
        raise ConfigError(f"target_age must be in 0..120 years, got {config.target_age}")


class _Run:
    """Consecutive frames of one face track where every landmark is known: their alignment, crops
    and edited crops."""

    def __init__(self, first: int, landmarks: np.ndarray, editor: FaceEditor) -> None:
        self.first = first
        self.landmarks = landmarks  # (T, 68, 2) image pixels
        self.size, self.scale = editor.crop_size, editor.crop_scale
        self.transforms = face_transform(torch.from_numpy(landmarks), editor.crop_size, editor.crop_scale)
        self.crops: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.edited: torch.Tensor | None = None  # (T, 3, S, S) float 0..255

    def covers(self, index: int) -> bool:
        return 0 <= index - self.first < len(self.landmarks)

    def add_crop(self, frame: np.ndarray) -> None:
        """Crop the next frame of the run."""
        row = len(self.crops)
        crop, points = align_frames(frame[None], self.landmarks[row : row + 1], self.size, self.scale)
        self.crops.append(crop[0])
        self.points.append(points[0])

    def edit(self, editor: FaceEditor, config: FaceEditConfig, smooth: bool) -> None:
        """Edit every crop of the run; smoothed in time when ``smooth``."""
        crops = np.stack(self.crops)
        device = editor.device
        inputs = to_tensor(crops).to(device)
        outputs = editor(inputs, torch.from_numpy(np.stack(self.points)).to(device), smooth)
        edited = to_uint8(outputs)
        if smooth and config.blend > 0:
            blender = FlowBlender(config.blend)
            edited = np.stack([blender(frame, guide) for frame, guide in zip(edited, crops)])
        self.edited = torch.from_numpy(edited).permute(0, 3, 1, 2).float()
        self.crops, self.points = [], []


def _paste(frame: np.ndarray, index: int, runs: list[_Run], editor: FaceEditor,
           feather: float) -> tuple[np.ndarray, np.ndarray]:
    """``frame`` with the edited crops of every run covering ``index`` pasted back, and the mask."""
    device = editor.device
    image = torch.from_numpy(frame).permute(2, 0, 1)[None].to(device, torch.float64)
    mask = torch.zeros(1, 1, *frame.shape[:2], dtype=torch.float64, device=device)
    for run in runs:
        if run.covers(index):
            row = index - run.first
            transform = run.transforms[row : row + 1].to(device)
            image = paste_back(image, run.edited[row : row + 1].to(device, torch.float64), transform, feather)
            mask = torch.maximum(mask, paste_mask(transform, editor.crop_size, frame.shape[:2], feather))
    return image[0].round().clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy(), mask[0, 0].float().cpu().numpy()


def _extract_settings(config: FaceEditConfig) -> ExtractSettings:
    return ExtractSettings(what="face", backend=config.tracking.backend, weights=config.tracking.weights,
                           device=config.tracking.device)


def _face_tracks(config: FaceEditConfig, start: int, stop: int) -> list[Keypoints]:
    """Every face track of frames ``start..stop-1``, smoothed."""
    tracks = extract_video(config.input, "face", settings=_extract_settings(config), start=start, stop=stop)
    if config.tracking.smooth != "none":
        smoother = Smoother(config.tracking.smooth)
        tracks = [smoother(track) for track in tracks]
    return tracks


def _runs(track: Keypoints, editor: FaceEditor) -> list[_Run]:
    """The runs of consecutive frames of ``track`` where every landmark is known."""
    usable = track.visible.all(axis=1) & np.isfinite(track.xy).all(axis=(1, 2))
    runs, row = [], 0
    while row < len(track):
        end = row
        while end < len(track) and usable[end]:
            end += 1
        if end > row:
            runs.append(_Run(int(track.frame_index[row]), track.xy[row:end].astype(np.float64), editor))
        row = end + 1
    return runs


def _faces_in(mask: np.ndarray) -> int:
    """Faces pasted into a frame: connected parts of its mask."""
    return int(cv2.connectedComponents((mask > 0).astype(np.uint8))[0] - 1)
