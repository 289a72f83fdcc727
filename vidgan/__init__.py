"""vidgan: video and face synthesis — motion transfer, face reenactment, dataset preprocessing.

The public API is re-exported here: ``from vidgan import VideoReader, probe, ...``.
"""

from vidgan.config import load_config, save_config
from vidgan.errors import ConfigError, DecodeError, InputError, MissingWeightsError, VidganError
from vidgan.io import (
    Clip,
    ImageFolderReader,
    VideoInfo,
    VideoReader,
    VideoWriter,
    probe,
    read_audio,
    read_image,
    write_audio,
    write_image,
    write_image_folder,
)

__version__ = "0.1.0"

__all__ = [
    "Clip",
    "ConfigError",
    "DecodeError",
    "ImageFolderReader",
    "InputError",
    "MissingWeightsError",
    "VidganError",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "load_config",
    "probe",
    "read_audio",
    "read_image",
    "save_config",
    "write_audio",
    "write_image",
    "write_image_folder",
]
