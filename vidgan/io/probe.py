"""``probe(path) -> VideoInfo``: what a video file holds, read from its packets, not guessed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidgan.errors import DecodeError
from vidgan.io.container import open_video


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video file.

    ``frames`` counts the frames a decoder will deliver (packets present, minus the ones an edit
    list discards); ``declared_frames`` is what the header claims. They differ when the file is
    truncated. ``width``/``height`` are the displayed size, after ``rotation`` (degrees clockwise,
    as the ``rotate`` tag phones write) is applied.
    """

    path: Path
    frames: int
    declared_frames: int
    fps: Fraction
    duration: float
    width: int
    height: int
    codec: str
    pixel_format: str
    rotation: int
    has_audio: bool
    audio_codec: str | None

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of a displayed frame, the shape order of the arrays."""
        return self.height, self.width

    @property
    def truncated(self) -> bool:
        """True when the header promises more frames than the file holds."""
        return self.declared_frames > self.frames

    def describe(self) -> str:
        """A multi-line human summary (used by ``vidgan probe``)."""
        lines = [
            f"path:          {self.path}",
            f"frames:        {self.frames}"
            + (f" (header declares {self.declared_frames}: truncated)" if self.truncated else ""),
            f"fps:           {self.fps} ({float(self.fps):.3f})",
            f"duration:      {self.duration:.3f} s",
            f"size:          {self.width}x{self.height} (WxH, displayed)",
            f"codec:         {self.codec} {self.pixel_format}",
            f"rotation:      {self.rotation}",
            f"audio:         {self.audio_codec or 'none'}",
        ]
        return "\n".join(lines)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read the facts of a video file; raise :class:`~vidgan.errors.InputError` if it is bad."""
    container, stream = open_video(path)
    with container:
        info, _ = read_info(path, container, stream)
    return info


def read_info(
    path: str | os.PathLike[str], container: av.container.InputContainer, stream: av.VideoStream
) -> tuple[VideoInfo, np.ndarray]:
    """The :class:`VideoInfo` of an open video and the sorted timestamps of its frames.

    Demuxes the whole stream (no decoding) and decodes its first frame; leaves it rewound.
    """
    presentation_times, discarded = packet_times(container, stream)
    if not presentation_times.size:
        raise DecodeError(path, "video stream holds no frames")
    rotation = _first_frame_rotation(path, container, stream)
    fps = _frame_rate(stream, presentation_times)
    width, height = stream.codec_context.width, stream.codec_context.height
    if rotation in (90, 270):
        width, height = height, width
    audio = container.streams.audio
    info = VideoInfo(
        path=Path(path),
        frames=int(presentation_times.size),
        declared_frames=max(int(stream.frames) - discarded, int(presentation_times.size)),
        fps=fps,
        duration=_duration(container, stream, presentation_times, fps),
        width=width,
        height=height,
        codec=stream.codec_context.name,
        pixel_format=stream.codec_context.pix_fmt or "unknown",
        rotation=rotation,
        has_audio=bool(audio),
        audio_codec=audio[0].codec_context.name if audio else None,
    )
    return info, presentation_times


def packet_times(
    container: av.container.InputContainer, stream: av.VideoStream
) -> tuple[np.ndarray, int]:
    """Sorted presentation timestamps of the frames a decoder will output (demux only, fast),
    and the number of packets an edit list discards (left out of the timestamps).

    Streams without timestamps (rare raw formats) get ``0..n-1``. Leaves the container rewound.
    """
    times = []
    discarded = 0
    missing_pts = False
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.is_discard:
            discarded += 1
            continue
        pts = packet.pts if packet.pts is not None else packet.dts
        missing_pts |= pts is None
        times.append(pts if pts is not None else len(times))
    container.seek(0)
    if missing_pts:
        return np.arange(len(times), dtype=np.int64), discarded
    return np.sort(np.asarray(times, dtype=np.int64)), discarded


def _first_frame_rotation(path, container: av.container.InputContainer, stream) -> int:
    try:
        for frame in container.decode(stream):
            container.seek(0)
            return int(-round(frame.rotation)) % 360
    except av.FFmpegError as error:
        raise DecodeError(path, f"first frame does not decode ({error.strerror})") from None
    raise DecodeError(path, "no frame could be decoded")


def _frame_rate(stream: av.VideoStream, times: np.ndarray) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    if times.size > 1 and stream.time_base:
        span = float((times[-1] - times[0]) * stream.time_base)
        return Fraction(times.size - 1) / Fraction(span).limit_denominator(1_000_000)
    return Fraction(25)


def _duration(container, stream: av.VideoStream, times: np.ndarray, fps: Fraction) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return float(times.size / fps)
