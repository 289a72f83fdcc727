"""``VideoWriter``: H.264 yuv420p encoding with exact frame rates, audio copy and atomic output."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np

from vidgan.errors import InputError
from vidgan.io.atomic import temporary_sibling
from vidgan.io.container import check_input_file

_AUDIO_CODEC = "aac"
_SMPTE170M = 6  # BT.601: the matrix cv2's RGB->I420 conversion uses
_MPEG_RANGE = 1


class VideoWriter:
    """Encode RGB uint8 frames ``(H, W, 3)`` to a video file.

    The file is written beside ``path`` under a temporary name and renamed when :meth:`close`
    succeeds; leaving a ``with`` block by an exception deletes it, so a failed run leaves no
    half-written output. Odd frame sizes are padded to even ones by repeating the last row or
    column (yuv420p needs even sizes); :attr:`size` says what was written. ``fps`` is kept
    exactly (a :class:`~fractions.Fraction` such as ``30000/1001`` stays that).

    ``audio_from``: a media file whose first audio track is re-encoded to AAC beside the video,
    starting ``audio_start`` seconds into it and cut at the video's end, interleaved as frames
    are written (memory stays flat). ``threads``: encoder threads (default: the encoder's choice).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: Fraction | int | float,
        *,
        crf: int = 18,
        preset: str = "medium",
        codec: str = "libx264",
        audio_from: str | os.PathLike[str] | None = None,
        audio_start: float = 0.0,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.threads = threads
        self.fps = Fraction(fps).limit_denominator(1_000_000)
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.crf, self.preset, self.codec = crf, preset, codec
        self.frames_written = 0
        self.size: tuple[int, int] | None = None
        self._audio = _AudioCopy(audio_from, audio_start) if audio_from is not None else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._temporary = temporary_sibling(self.path)
        try:
            self._container = av.open(str(self._temporary), mode="w")
        except av.FFmpegError as error:
            raise InputError(self.path, f"cannot write a video here ({error.strerror})") from None
        self._stream: av.VideoStream | None = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB uint8 frame ``(H, W, 3)``."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(
                f"{self.path}: frames must be RGB uint8 (H, W, 3), got {frame.dtype} {frame.shape}"
            )
        if self._stream is None:
            self._open_stream(frame.shape[0], frame.shape[1])
        if frame.shape[:2] != self._input_size:
            raise ValueError(
                f"{self.path}: frame {self.frames_written} is {frame.shape[1]}x{frame.shape[0]}, "
                f"the video is {self._input_size[1]}x{self._input_size[0]}"
            )
        frame = _pad_to_even(frame)
        yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
        video_frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        video_frame.pts = self.frames_written
        self._container.mux(self._stream.encode(video_frame))
        self.frames_written += 1
        if self._audio is not None:
            self._audio.copy_until(self._container, self.frames_written / self.fps)

    def write_all(self, frames: Iterable[np.ndarray]) -> None:
        """Append every frame of an iterable of frames or of a clip array ``(T, H, W, 3)``."""
        for frame in frames:
            self.write(frame)

    def close(self) -> Path:
        """Flush the encoders, finish the file and move it into place; returns its path."""
        if self._stream is None:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written")
        try:
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.finish(self._container, self.frames_written / self.fps)
            self._container.close()
            os.replace(self._temporary, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the partial file."""
        try:
            self._container.close()
        except (av.FFmpegError, ValueError):
            pass
        if self._audio is not None:
            self._audio.close()
        self._temporary.unlink(missing_ok=True)

    def _open_stream(self, height: int, width: int) -> None:
        self._input_size = (height, width)
        self.size = (height + height % 2, width + width % 2)
        stream = self._container.add_stream(self.codec, rate=self.fps)
        stream.height, stream.width = self.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.colorspace = _SMPTE170M
        stream.codec_context.color_range = _MPEG_RANGE
        stream.codec_context.time_base = 1 / self.fps
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.threads is not None:
            stream.codec_context.thread_count = self.threads
        self._stream = stream
        if self._audio is not None:
            self._audio.add_stream(self._container)


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return frame
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


class _AudioCopy:
    """Decode the first audio track of a file and re-encode a time window of it to AAC."""

    def __init__(self, source: str | os.PathLike[str], start: float) -> None:
        file = check_input_file(source)
        try:
            self._source = av.open(str(file))
        except av.FFmpegError as error:
            raise InputError(file, f"cannot read audio ({error.strerror})") from None
        if not self._source.streams.audio:
            self._source.close()
            raise InputError(file, "has no audio track to copy")
        self._input = self._source.streams.audio[0]
        self._rate = self._input.codec_context.sample_rate or 48000
        layout = self._input.codec_context.layout.name
        self._layout = layout if layout in ("mono", "stereo") else "stereo"
        self._start_sample = round(start * self._rate)
        self._resampler = av.AudioResampler(format="fltp", layout=self._layout, rate=self._rate)
        self._fifo = av.AudioFifo()
        self._decoded = self._decode_samples()
        self._position = None  # source sample index of the next decoded sample
        self._encoded = 0

    def add_stream(self, container: av.container.OutputContainer) -> None:
        self._output = container.add_stream(_AUDIO_CODEC, rate=self._rate, layout=self._layout)

    def copy_until(self, container: av.container.OutputContainer, seconds: Fraction) -> None:
        """Encode source audio up to ``seconds`` of output time."""
        end = round(seconds * self._rate)
        frame_size = self._output.codec_context.frame_size or 1024
        while self._encoded + self._fifo.samples < end:
            samples = next(self._decoded, None)
            if samples is None:
                break
            self._fifo.write(samples)
        while self._fifo.samples >= frame_size and self._encoded + frame_size <= end:
            self._encode(container, self._fifo.read(frame_size))

    def finish(self, container: av.container.OutputContainer, seconds: Fraction) -> None:
        """Encode the rest up to ``seconds``, flush the encoder and close the source."""
        self.copy_until(container, seconds)
        remaining = min(self._fifo.samples, round(seconds * self._rate) - self._encoded)
        if remaining > 0:
            self._encode(container, self._fifo.read(remaining))
        container.mux(self._output.encode(None))
        self.close()

    def close(self) -> None:
        self._source.close()

    def _encode(self, container, frame: av.AudioFrame) -> None:
        frame.pts = self._encoded
        frame.sample_rate = self._rate
        self._encoded += frame.samples
        container.mux(self._output.encode(frame))

    def _decode_samples(self):
        """Yield fltp frames of the source from ``start`` on, timestamps dropped."""
        for packet in self._source.demux(self._input):
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                continue  # a damaged audio packet: skip its samples, keep the rest
            for frame in decoded:
                if self._position is None:
                    self._position = round((frame.time or 0.0) * self._rate)
                for converted in self._resampler.resample(frame):
                    yield from self._window(converted)
        for converted in self._resampler.resample(None):
            yield from self._window(converted)

    def _window(self, frame: av.AudioFrame):
        first = self._position
        self._position += frame.samples
        skip = self._start_sample - first
        if skip >= frame.samples:
            return
        if skip > 0:
            planes = frame.to_ndarray()[:, skip:]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planes), format="fltp", layout=self._layout
            )
            frame.sample_rate = self._rate
        frame.pts = None
        yield frame
