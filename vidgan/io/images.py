"""Single images and image folders, with the same frame convention as videos: RGB uint8 (H, W, 3)."""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vidgan.errors import DecodeError, InputError
from vidgan.io.atomic import atomic_path
from vidgan.io.clips import Clip, cut_clips
from vidgan.io.container import MAX_FRAME_PIXELS, check_input_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def check_image(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header alone, once it is known to exist, be
    an image and be within the size limit (InputError / DecodeError naming the file otherwise)."""
    file = check_input_file(path)
    width, height = _declared_size(file)
    if width * height > MAX_FRAME_PIXELS:
        raise InputError(file, f"image {width}x{height} exceeds the size limit ({MAX_FRAME_PIXELS} pixels)")
    return width, height


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as RGB uint8 ``(H, W, 3)``: gray is expanded, alpha dropped, 16-bit scaled."""
    check_image(path)
    file = Path(path)
    image = cv2.imdecode(np.fromfile(file, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DecodeError(file, "not a readable image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DecodeError(file, f"unsupported image sample type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _declared_size(file: Path) -> tuple[int, int]:
    """``(width, height)`` from the file's header alone (Pillow reads no pixel here), so that a
    small file declaring a huge image is refused before it is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(file) as image:
                return image.size
    except Image.DecompressionBombError:  # Pillow's own limit (twice its warning size), above ours
        raise InputError(file, f"image exceeds the size limit ({MAX_FRAME_PIXELS} pixels)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise DecodeError(file, "not a readable image") from None


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, quality: int = 95) -> Path:
    """Write an RGB uint8 ``(H, W, 3)`` image atomically; the format follows the suffix."""
    target = Path(path)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{target}: images must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if target.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(target, f"unknown image suffix; use one of {', '.join(IMAGE_SUFFIXES)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if target.suffix.lower() in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(target.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise InputError(target, "image encoding failed")
    with atomic_path(target) as temporary:
        encoded.tofile(temporary)
    return target


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files of ``folder`` in natural order (``2.png`` before ``10.png``)."""
    directory = Path(folder)
    if not directory.is_dir():
        raise InputError(directory, "is not a folder of images")
    files = [p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        raise InputError(directory, f"holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=_natural_key)


class ImageFolderReader:
    """A folder of images read like a video: frames in natural file order, clips, ``len``."""

    def __init__(
        self, folder: str | os.PathLike[str], *, fps: Fraction | int = 25, video_id: str | None = None
    ) -> None:
        self.folder = Path(folder)
        self.files = list_images(self.folder)
        self.fps = Fraction(fps)
        self.video_id = video_id if video_id is not None else self.folder.name

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (frame for _, frame in self.indexed_frames())

    def indexed_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_index, frame)`` for files ``start..stop-1``."""
        for index in range(start, len(self) if stop is None else min(stop, len(self))):
            yield index, read_image(self.files[index])

    def clips(self, length: int, *, stride: int | None = None, drop_last: bool = False) -> Iterator[Clip]:
        """Clips of ``length`` frames, as :meth:`vidgan.io.VideoReader.clips`."""
        return cut_clips(
            self.indexed_frames(),
            video_id=self.video_id,
            fps=self.fps,
            length=length,
            stride=stride,
            drop_last=drop_last,
        )


def write_image_folder(
    folder: str | os.PathLike[str], frames: Iterable[np.ndarray], *, suffix: str = ".png"
) -> Path:
    """Write frames as ``000000.png, 000001.png, ...``; the folder appears only when complete."""
    target = Path(folder)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for index, frame in enumerate(frames):
            write_image(partial / f"{index:06d}{suffix}", frame)
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _natural_key(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]
