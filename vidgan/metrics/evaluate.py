"""``evaluate(real, fake, metrics)``: every metric of a generated video against its real one,
in one streaming pass (the function behind ``vidgan eval``).

``real`` and ``fake`` are videos, image folders or RGB uint8 arrays ``(T, H, W, 3)`` with the
same number of frames and the same frame size: frame t of one is compared with frame t of the
other. Frames are read ``CLIP_LENGTH`` at a time, so memory does not grow with the video.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from itertools import zip_longest
from pathlib import Path

import numpy as np
import torch

from vidgan.errors import ConfigError, InputError
from vidgan.io import ImageFolderReader, VideoReader
from vidgan.io.atomic import atomic_path
from vidgan.metrics.distribution import fid, fvd, inception_score, kid
from vidgan.metrics.features import (
    I3D,
    FeatureNetwork,
    InceptionV3,
    RandomFeatureNetwork,
)
from vidgan.metrics.frame import frames_to_tensor, psnr_frames, ssim_frames
from vidgan.metrics.lpips import LPIPS
from vidgan.metrics.temporal import brightness_changes, consistent_flows, warping_errors
from vidgan.progress import progress

#: Metric names, in report order. warp and flicker also report the real video's (``*_real``);
#: kid and is also report their standard deviation (``*_std``).
METRICS = ("psnr", "ssim", "lpips", "warp", "flicker", "fid", "kid", "is", "fvd")
#: Frames per FVD clip (non-overlapping; a shorter tail is left out) and per streamed chunk.
CLIP_LENGTH = 16
FEATURE_NETS = ("pretrained", "random")
#: Frames the distribution metrics need: two samples for a covariance (fvd: two clips).
_MINIMUM_FRAMES = {"fid": 2, "kid": 2, "fvd": 2 * CLIP_LENGTH}

Source = str | os.PathLike[str] | np.ndarray


def evaluate(
    real: Source,
    fake: Source,
    metrics: Sequence[str] = ("psnr", "ssim", "warp", "flicker"),
    *,
    weights: str | os.PathLike[str] | None = None,
    feature_net: str = "pretrained",
    device: str = "cpu",
    kid_subset_size: int = 1000,
) -> dict[str, float]:
    """The requested ``metrics`` (names of :data:`METRICS`) of ``fake`` against ``real``.

    * psnr, ssim, lpips: means over frame pairs (:mod:`vidgan.metrics.frame`, :mod:`~vidgan.metrics.lpips`);
    * warp: warping error of ``fake`` with flow and occlusions from ``real``; ``warp_real`` that of
      ``real`` itself (the floor set by the flow's own error); flicker / ``flicker_real``: brightness flicker;
    * fid, kid (+ ``kid_std``), is (+ ``is_std``, of ``fake``): over frames; fvd: over
      ``CLIP_LENGTH``-frame clips (at least two).

    ``weights``: the folder holding the weights files (default: torch's checkpoints folder).
    ``feature_net``: ``pretrained`` (Inception-v3, I3D) or ``random`` (:class:`RandomFeatureNetwork`,
    for smoke runs). Missing weights raise MissingWeightsError before any frame is read; unknown
    names raise ConfigError; unreadable or mismatched inputs raise InputError naming the file.
    """
    unknown = [name for name in metrics if name not in METRICS]
    if unknown or not metrics:
        problem = f"unknown metrics {', '.join(unknown)}" if unknown else "no metrics given"
        raise ConfigError(f"{problem}; choose from {', '.join(METRICS)}")
    if feature_net not in FEATURE_NETS:
        raise ConfigError(f"unknown feature_net {feature_net!r}; use {' or '.join(FEATURE_NETS)}")
    wanted = set(metrics)
    lpips = LPIPS(weights=weights, device=device) if "lpips" in wanted else None
    image_net, video_net = _networks(wanted, feature_net, weights, device)
    real_name, real_count, real_frames = _open(real)
    fake_name, fake_count, fake_frames = _open(fake)
    if real_count != fake_count:
        raise InputError(fake_name, f"has {fake_count} frames but the real {real_name} has {real_count}")
    for name, needed in _MINIMUM_FRAMES.items():
        if name in wanted and real_count < needed:
            raise InputError(fake_name, f"{name} needs at least {needed} frames, it has {real_count}")

    values: dict[str, list[np.ndarray]] = {}

    def add(name: str, value: np.ndarray | torch.Tensor) -> None:
        values.setdefault(name, []).append(np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value))

    last: tuple[np.ndarray, np.ndarray] | None = None  # the previous chunk's last frames
    with progress(total=real_count, desc=f"eval {fake_name}") as bar, torch.inference_mode():
        for real_chunk, fake_chunk in _chunks(real_name, real_frames, fake_name, fake_frames):
            if "psnr" in wanted:
                add("psnr", psnr_frames(real_chunk, fake_chunk))
            if "ssim" in wanted:
                add("ssim", ssim_frames(real_chunk, fake_chunk))
            if lpips is not None:
                add("lpips", lpips.frames(real_chunk, fake_chunk))
            if wanted & {"warp", "flicker"}:
                # consecutive pairs continue across chunks: prepend the previous chunk's last frame
                real_run, fake_run = (real_chunk, fake_chunk) if last is None else (
                    np.concatenate([last[0], real_chunk]), np.concatenate([last[1], fake_chunk]))
                if "warp" in wanted and len(real_run) > 1:
                    flows = consistent_flows(real_run)
                    add("warp", warping_errors(fake_run, flows=flows))
                    add("warp_real", warping_errors(real_run, flows=flows))
                if "flicker" in wanted:
                    add("flicker", brightness_changes(fake_run))
                    add("flicker_real", brightness_changes(real_run))
            if image_net is not None or video_net is not None:
                real_images, fake_images = (frames_to_tensor(chunk) * 2 - 1 for chunk in (real_chunk, fake_chunk))
            if image_net is not None:
                real_features, _ = image_net.features_and_logits(real_images)
                fake_features, fake_logits = image_net.features_and_logits(fake_images)
                add("real_features", real_features)
                add("fake_features", fake_features)
                add("fake_probabilities", fake_logits.softmax(dim=1))
            if video_net is not None and len(real_chunk) == CLIP_LENGTH:
                add("real_clips", video_net(real_images[None]))
                add("fake_clips", video_net(fake_images[None]))
            last = (real_chunk[-1:], fake_chunk[-1:])
            bar.update(len(real_chunk))
    return _summarise(metrics, {name: np.concatenate(parts) for name, parts in values.items()}, kid_subset_size)


def _networks(
    wanted: set[str], feature_net: str, weights: str | os.PathLike[str] | None, device: str
) -> tuple[InceptionV3 | RandomFeatureNetwork | None, FeatureNetwork | None]:
    """The image network (for fid, kid, is) and the video network (for fvd) that are needed."""
    random_net = RandomFeatureNetwork(device=device) if feature_net == "random" else None
    image_net = video_net = None
    if wanted & {"fid", "kid", "is"}:
        image_net = random_net or InceptionV3(weights, device=device)
    if "fvd" in wanted:
        video_net = random_net or I3D(weights, device=device)
    return image_net, video_net


def _summarise(metrics: Sequence[str], values: dict[str, np.ndarray], kid_subset_size: int) -> dict[str, float]:
    """Reduce the per-frame / per-pair / per-clip values to the report, in ``metrics`` order."""
    result: dict[str, float] = {}
    for name in metrics:
        if name in ("psnr", "ssim", "lpips"):
            result[name] = float(values[name].mean())
        elif name in ("warp", "flicker"):
            for key in (name, f"{name}_real"):
                pairs = values.get(key, np.empty(0))
                result[key] = float(np.nanmean(pairs)) if np.isfinite(pairs).any() else math.nan
        elif name == "fid":
            result["fid"] = fid(values["real_features"], values["fake_features"])
        elif name == "kid":
            result["kid"], result["kid_std"] = kid(values["real_features"], values["fake_features"],
                                                   subset_size=kid_subset_size)
        elif name == "is":
            result["is"], result["is_std"] = inception_score(values["fake_probabilities"])
        elif name == "fvd":
            result["fvd"] = fvd(values["real_clips"], values["fake_clips"])
    return result


def _open(source: Source) -> tuple[str, int, Iterator[np.ndarray]]:
    """``(name, frame count, frames)`` of a video, an image folder or a ``(T, H, W, 3)`` array."""
    if isinstance(source, np.ndarray):
        if source.ndim != 4 or source.shape[3] != 3 or source.dtype != np.uint8:
            raise ValueError(f"frame arrays must be RGB uint8 (T, H, W, 3), got {source.dtype} {source.shape}")
        return "<array>", len(source), iter(source)
    reader = ImageFolderReader(source) if Path(source).is_dir() else VideoReader(source)
    return os.fspath(source), len(reader), iter(reader)


def _chunks(
    real_name: str, real: Iterator[np.ndarray], fake_name: str, fake: Iterator[np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Aligned chunks ``(n, H, W, 3)`` of up to ``CLIP_LENGTH`` frames of both sides; frame
    sizes and the actual number of decoded frames must match."""
    size = None
    real_chunk: list[np.ndarray] = []
    fake_chunk: list[np.ndarray] = []
    for index, (a, b) in enumerate(zip_longest(real, fake)):
        if a is None or b is None:
            short, other = (real_name, fake_name) if a is None else (fake_name, real_name)
            raise InputError(short, f"ends after {index} frames, {other} goes on")
        size = size or a.shape
        for name, frame in ((real_name, a), (fake_name, b)):
            if frame.shape != size:
                raise InputError(name, f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, "
                                       f"but {real_name} starts with {size[1]}x{size[0]} frames")
        real_chunk.append(a)
        fake_chunk.append(b)
        if len(real_chunk) == CLIP_LENGTH:
            yield np.stack(real_chunk), np.stack(fake_chunk)
            real_chunk, fake_chunk = [], []
    if real_chunk:
        yield np.stack(real_chunk), np.stack(fake_chunk)


def format_metrics(metrics: dict[str, float]) -> str:
    """The metrics as an aligned two-column table."""
    width = max(map(len, metrics), default=0)
    return "\n".join(f"{name:<{width}}  {value:.6g}" for name, value in metrics.items())


def save_metrics(path: str | os.PathLike[str], metrics: dict[str, float], **context: str) -> Path:
    """Write ``{**context, "metrics": metrics}`` as JSON, atomically. Non-finite values (an
    infinite PSNR of identical frames, an undefined metric) are written as the strings
    ``"inf"``, ``"-inf"`` or ``"nan"``, which ``float()`` reads back."""
    portable = {name: value if math.isfinite(value) else str(value) for name, value in metrics.items()}
    target = Path(path)
    with atomic_path(target) as temporary:
        temporary.write_text(json.dumps({**context, "metrics": portable}, indent=2) + "\n")
    return target
