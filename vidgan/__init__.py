"""vidgan: video and face synthesis — motion transfer, face reenactment, dataset preprocessing.

The public API is re-exported here: ``from vidgan import VideoReader, probe, ...``.
"""

from vidgan.config import load_config, save_config
from vidgan.errors import (
    ConfigError,
    DecodeError,
    InputError,
    MissingWeightsError,
    VidganError,
)
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

#: Names that need torch, imported on first use so that ``import vidgan`` (and the CLI) stay fast.
_LAZY = {
    "GANTrainer": "vidgan.train",
    "TrainConfig": "vidgan.train",
    "run_experiment": "vidgan.train",
    "evaluate": "vidgan.metrics",
    "LPIPS": "vidgan.metrics",
    "Vid2Vid": "vidgan.models.vid2vid",
    "MoCoGAN": "vidgan.models.mocogan",
    "DVDGAN": "vidgan.models.dvdgan",
    "PoseGuidedGenerator": "vidgan.models.pose_guided",
    "FaceAger": "vidgan.models.age_cgan",
    "Frontalizer": "vidgan.models.tpgan",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidgan' has no attribute {name!r}")


__all__ = [
    "DVDGAN",
    "LPIPS",
    "Clip",
    "ConfigError",
    "DecodeError",
    "FaceAger",
    "Frontalizer",
    "GANTrainer",
    "ImageFolderReader",
    "InputError",
    "MissingWeightsError",
    "MoCoGAN",
    "PoseGuidedGenerator",
    "TrainConfig",
    "Vid2Vid",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "VidganError",
    "evaluate",
    "load_config",
    "probe",
    "read_audio",
    "read_image",
    "run_experiment",
    "save_config",
    "write_audio",
    "write_image",
    "write_image_folder",
]
