"""Audio tracks as float32 sample arrays ``(channels, samples)`` in [-1, 1]."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from vidgan.errors import DecodeError, InputError
from vidgan.io.atomic import atomic_path
from vidgan.io.container import check_input_file

_LAYOUTS = {1: "mono", 2: "stereo"}


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode the first audio track of a media file: ``(samples (C, N) float32, sample_rate)``."""
    file = check_input_file(path)
    try:
        container = av.open(str(file))
    except av.FFmpegError as error:
        raise DecodeError(file, f"not a readable media file ({error.strerror})") from None
    with container:
        if not container.streams.audio:
            raise InputError(file, "has no audio track")
        stream = container.streams.audio[0]
        layout = "stereo" if stream.codec_context.channels >= 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=stream.codec_context.sample_rate)
        chunks = []
        for frame in container.decode(stream):
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
        return np.concatenate(chunks, axis=1).astype(np.float32), stream.codec_context.sample_rate


def write_audio(path: str | os.PathLike[str], samples: np.ndarray, rate: int) -> Path:
    """Encode ``(C, N)`` or ``(N,)`` float samples in [-1, 1] to AAC (``.m4a``/``.mp4``), atomically."""
    planes = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if planes.shape[0] not in _LAYOUTS:
        raise ValueError(f"{path}: audio must have 1 or 2 channels, got {planes.shape[0]}")
    layout = _LAYOUTS[planes.shape[0]]
    with atomic_path(path) as temporary, av.open(str(temporary), mode="w") as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        frame_size = 1024
        for start in range(0, planes.shape[1], frame_size):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planes[:, start : start + frame_size]), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)
