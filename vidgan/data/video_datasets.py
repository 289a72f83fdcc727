"""Clip datasets of the video GANs (MoCoGAN, DVD-GAN): fixed-length clips from

- ``strips``: MoCoGAN's format, one image per clip with its frames side by side (square frames
  along the longer side): ``root/<class>/*.png|jpg``;
- ``videos``: a folder of videos PyAV reads: ``root/<class>/*.mp4`` or ``root/*.mp4``;
- ``frames``: a folder of frame folders: ``root/<class>/<clip>/*.png`` or ``root/<clip>/*.png``;
- ``preprocessed``: the track crops of ``vidgan preprocess`` (:mod:`vidgan.data.layout`);
- ``shapes``: shape-motion clips generated in memory (:mod:`vidgan.data.shapes`).

Class folders are numbered in sorted name order (as torchvision's ``ImageFolder``); without
them every clip is category 0 and ``classes`` is empty. An item is one window of ``length``
frames taken every ``every_nth`` source frame, starting at a multiple of ``stride``: every
start of every source is its own index, so the dataset holds no random state (the trainer's
sampler shuffles, resumes and splits it over workers exactly). Sources shorter than one
window are skipped (counted in ``skipped``). Items are dicts: ``video`` float ``(T, C, H, W)``
in [-1, 1] (frames resized so the shorter side is ``size``, then centre-cropped) and
``category`` int64 ``()``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from vidgan.data.layout import read_manifest
from vidgan.data.shapes import shape_clip
from vidgan.errors import ConfigError, InputError
from vidgan.io import VideoReader, list_images, probe, read_image
from vidgan.io.images import IMAGE_SUFFIXES
from vidgan.nn.images import to_tensor

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")
ClipFormat = Literal["strips", "videos", "frames", "preprocessed", "shapes"]


@dataclass
class ClipData:
    """The ``data:`` section of the video families (see the module docstring)."""

    format: ClipFormat = "strips"
    #: Dataset folder (not used by ``shapes``).
    root: str = ""
    #: Frames are resized and centre-cropped to size x size.
    size: int = 64
    #: Frames per clip and the source-frame step between them (MoCoGAN's video_length, every_nth).
    length: int = 16
    every_nth: int = 2
    #: Source frames between the starts of two clips of one source.
    stride: int = 1
    #: ``shapes`` only: how many source clips, classes (directions), frames per source clip, seed.
    count: int = 2000
    num_classes: int = 2
    source_length: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("size", "length", "every_nth", "stride", "count", "num_classes", "source_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.format != "shapes" and not self.root:
            raise ValueError(f"data.root is required for data.format {self.format!r}")


class _Source(Protocol):
    """One source clip: how many frames it has, its class, and random access to its frames."""

    frames: int
    category: int

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """RGB uint8 frames ``(len(indices), H, W, 3)``."""
        ...


@dataclass
class _StripSource:
    path: Path
    frames: int
    category: int

    def read(self, indices: Sequence[int]) -> np.ndarray:
        strip = read_image(self.path)
        side = min(strip.shape[:2])
        if strip.shape[1] >= strip.shape[0]:
            return np.stack([strip[:, i * side : (i + 1) * side] for i in indices])
        return np.stack([strip[i * side : (i + 1) * side] for i in indices])


@dataclass
class _VideoSource:
    path: Path
    frames: int
    category: int

    def read(self, indices: Sequence[int]) -> np.ndarray:
        wanted = set(indices)
        reader = VideoReader(self.path)
        decoded = {i: f for i, f in reader.indexed_frames(min(indices), max(indices) + 1) if i in wanted}
        missing = wanted - decoded.keys()
        if missing:
            raise InputError(self.path, f"frames {sorted(missing)[:3]}... could not be decoded")
        return np.stack([decoded[i] for i in indices])


@dataclass
class _FrameFolderSource:
    files: list[Path]
    category: int

    @property
    def frames(self) -> int:
        return len(self.files)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return np.stack([read_image(self.files[i]) for i in indices])


@dataclass
class _ShapeSource:
    index: int
    frames: int
    category: int
    size: int
    num_classes: int
    seed: int

    def read(self, indices: Sequence[int]) -> np.ndarray:
        clip = shape_clip(self.index, size=self.size, length=self.frames, num_classes=self.num_classes, seed=self.seed)
        return clip.frames[list(indices)]


class ClipDataset(Dataset):
    """Every window of ``length`` frames, ``every_nth`` apart, starting every ``stride`` frames,
    of every source clip (see the module docstring). ``classes``: class names, index = category."""

    def __init__(
        self,
        sources: Sequence[_Source],
        classes: Sequence[str],
        *,
        size: int = 64,
        length: int = 16,
        every_nth: int = 1,
        stride: int = 1,
        origin: str = "dataset",
    ) -> None:
        self.classes = list(classes)
        self.size, self.length, self.every_nth, self.stride = size, length, every_nth, stride
        self.span = every_nth * (length - 1) + 1
        self.sources = [source for source in sources if source.frames >= self.span]
        self.skipped = len(sources) - len(self.sources)
        if not self.sources:
            raise InputError(origin, f"no source clip has the {self.span} frames one clip needs "
                                     f"(length {length}, every_nth {every_nth}); {len(sources)} sources found")
        counts = [(source.frames - self.span) // stride + 1 for source in self.sources]
        self._first = np.cumsum([0, *counts])

    @property
    def num_classes(self) -> int:
        """How many classes (0 when the data has none)."""
        return len(self.classes)

    def __len__(self) -> int:
        return int(self._first[-1])

    def window(self, index: int) -> tuple[int, list[int]]:
        """Source number and source-frame indices of item ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"clip {index} out of range 0..{len(self) - 1}")
        source = int(np.searchsorted(self._first, index, side="right")) - 1
        start = (index - int(self._first[source])) * self.stride
        return source, list(range(start, start + self.span, self.every_nth))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        number, indices = self.window(index)
        source = self.sources[number]
        frames = np.stack([_fit(frame, self.size) for frame in source.read(indices)])
        video = to_tensor(frames)
        return {"video": video, "category": torch.tensor(source.category, dtype=torch.int64)}


class StripDataset(ClipDataset):
    """MoCoGAN's strip format: ``root/<class>/*`` images, each a clip with square frames side by
    side (horizontally or vertically, along the longer side)."""

    def __init__(self, root: str | os.PathLike[str], **clips: int) -> None:
        classes, groups = _classes(Path(root), _is_image)
        sources = []
        for category, files in enumerate(groups):
            for path in files:
                with Image.open(path) as image:  # reads the header only
                    width, height = image.size
                sources.append(_StripSource(path, max(width, height) // min(width, height), category))
        super().__init__(sources, classes, origin=str(root), **clips)


class VideoFolderDataset(ClipDataset):
    """Videos PyAV reads (by suffix, :data:`VIDEO_SUFFIXES`): ``root/<class>/*`` or ``root/*``."""

    def __init__(self, root: str | os.PathLike[str], **clips: int) -> None:
        classes, groups = _classes(Path(root), _is_video)
        sources = [_VideoSource(path, probe(path).frames, category)
                   for category, files in enumerate(groups) for path in files]
        super().__init__(sources, classes, origin=str(root), **clips)


class FrameFolderDataset(ClipDataset):
    """Folders of frames (natural file order): ``root/<class>/<clip>/*`` or ``root/<clip>/*``."""

    def __init__(self, root: str | os.PathLike[str], **clips: int) -> None:
        classes, groups = _classes(Path(root), _is_frame_folder)
        sources = [_FrameFolderSource(list_images(folder), category)
                   for category, folders in enumerate(groups) for folder in folders]
        super().__init__(sources, classes, origin=str(root), **clips)


class PreprocessedDataset(ClipDataset):
    """The track crops ``videos/<video_id>/track_<id>.mp4`` of a ``vidgan preprocess`` dataset
    (complete video folders only, i.e. with a manifest); no classes."""

    def __init__(self, root: str | os.PathLike[str], **clips: int) -> None:
        folders = sorted((Path(root) / "videos").glob("*/"))
        paths = [path for folder in folders if read_manifest(folder) is not None
                 for path in sorted(folder.glob("track_*.mp4")) if not path.stem.endswith("_maps")]
        if not paths:
            raise InputError(root, "holds no complete track videos (videos/<id>/track_<n>.mp4 with a manifest)")
        super().__init__([_VideoSource(path, probe(path).frames, 0) for path in paths], [], origin=str(root), **clips)


class ShapeMotionDataset(ClipDataset):
    """``count`` shape-motion clips of ``source_length`` frames made in memory (:mod:`vidgan.data.shapes`);
    class ``k`` (= clip index mod ``num_classes``) moves in direction ``k``."""

    def __init__(
        self, count: int, *, num_classes: int = 2, source_length: int = 32, seed: int = 0, size: int = 64, **clips: int
    ) -> None:
        sources = [_ShapeSource(i, source_length, i % num_classes, size, num_classes, seed) for i in range(count)]
        super().__init__(sources, [str(k) for k in range(num_classes)], size=size, origin="shapes", **clips)


def build_clip_dataset(data: ClipData) -> ClipDataset:
    """The dataset that ``data`` describes."""
    clips = {"size": data.size, "length": data.length, "every_nth": data.every_nth, "stride": data.stride}
    if data.format == "shapes":
        return ShapeMotionDataset(data.count, num_classes=data.num_classes, source_length=data.source_length,
                                  seed=data.seed, **clips)
    kinds = {"strips": StripDataset, "videos": VideoFolderDataset, "frames": FrameFolderDataset,
             "preprocessed": PreprocessedDataset}
    if data.format not in kinds:
        raise ConfigError(f"data.format {data.format!r}: choose one of shapes, {', '.join(kinds)}")
    root = Path(data.root)
    if not root.is_dir():
        raise InputError(root, "is not a folder (data.root)")
    return kinds[data.format](root, **clips)


def _fit(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize ``frame`` (H, W, 3) so its shorter side is ``size``, then centre-crop to size x size."""
    height, width = frame.shape[:2]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        frame = cv2.resize(frame, new, interpolation=interpolation)
        top, left = (frame.shape[0] - size) // 2, (frame.shape[1] - size) // 2
        frame = frame[top : top + size, left : left + size]
    return frame


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(_is_image(child) for child in path.iterdir())


def _classes(root: Path, is_item) -> tuple[list[str], list[list[Path]]]:
    """Class names and the items of each: items directly in ``root`` (no classes), else the
    items of each subfolder (classes in sorted name order). Hidden names are ignored."""
    if not root.is_dir():
        raise InputError(root, "is not a folder")
    children = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    direct = [p for p in children if is_item(p)]
    if direct:
        return [], [direct]
    classes, groups = [], []
    for folder in (p for p in children if p.is_dir()):
        items = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and is_item(p))
        if items:
            classes.append(folder.name)
            groups.append(items)
    if not groups:
        raise InputError(root, "holds no clips in the expected layout (see vidgan.data.video_datasets)")
    return classes, groups
