"""Video and image I/O on PyAV: probe, read, write; frames are RGB uint8 ``(H, W, 3)``."""

from vidgan.io.atomic import atomic_path
from vidgan.io.audio import read_audio, write_audio
from vidgan.io.clips import Clip
from vidgan.io.images import (
    ImageFolderReader,
    list_images,
    read_image,
    write_image,
    write_image_folder,
)
from vidgan.io.probe import VideoInfo, probe
from vidgan.io.reader import VideoReader
from vidgan.io.writer import VideoWriter

__all__ = [
    "Clip",
    "ImageFolderReader",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "atomic_path",
    "list_images",
    "probe",
    "read_audio",
    "read_image",
    "write_audio",
    "write_image",
    "write_image_folder",
]
