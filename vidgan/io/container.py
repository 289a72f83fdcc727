"""Opening media files with PyAV, with one clear error for every way a file can be bad."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import av
import av.logging

from vidgan.errors import DecodeError, InputError

#: Largest frame vidgan agrees to decode (pixels). Checked from the header, before any
#: frame buffer is allocated: a forged or broken header cannot make us allocate gigabytes.
MAX_FRAME_PIXELS = 8192 * 8192

#: One log capture at a time (see :func:`_open_explained`).
_LOG_CAPTURE = threading.Lock()


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path if it names a non-empty regular file; raise InputError if not."""
    file = Path(path)
    if not file.exists():
        raise InputError(file, "no such file")
    if file.is_dir():
        raise InputError(file, "is a directory, expected a file")
    if not file.is_file():
        raise InputError(file, "is not a regular file")
    if file.stat().st_size == 0:
        raise InputError(file, "is empty (0 bytes)")
    if not os.access(file, os.R_OK):
        raise InputError(file, "is not readable (permission denied)")
    return file


def open_video(path: str | os.PathLike[str]) -> tuple[av.container.InputContainer, av.VideoStream]:
    """Open ``path`` and return its container and first video stream.

    Raises InputError when the file is missing, empty, not a media file, has no video stream
    or declares a frame larger than :data:`MAX_FRAME_PIXELS`.
    """
    file = check_input_file(path)
    container = _open_explained(file)
    try:
        stream = _video_stream(file, container)
    except BaseException:
        container.close()
        raise
    return container, stream


#: FFmpeg's demuxers of single pictures: ``image2`` and every ``*_pipe`` (png_pipe, jpeg_pipe ...).
STILL_IMAGE_FORMATS = ("image2",)


def _video_stream(file: Path, container: av.container.InputContainer) -> av.VideoStream:
    if not container.streams.video:
        kinds = ", ".join(f"{s.type} {s.codec_context.name}" for s in container.streams) or "none"
        raise InputError(file, f"has no video stream (streams: {kinds})")
    if container.format.name in STILL_IMAGE_FORMATS or container.format.name.endswith("_pipe"):
        codec = container.streams.video[0].codec_context.name
        raise InputError(file, f"is a still image ({codec}), not a video; "
                               "vidgan's photo commands (age, frontalize, pose-generate --image) take it")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise DecodeError(file, f"video stream declares an invalid size {width}x{height}")
    if width * height > MAX_FRAME_PIXELS:
        raise InputError(
            file,
            f"frame size {width}x{height} exceeds the limit of {MAX_FRAME_PIXELS} pixels "
            "(refusing to allocate; the header may be corrupt)",
        )
    return stream


def _open_explained(file: Path) -> av.container.InputContainer:
    """``av.open`` whose error carries FFmpeg's own last complaint (e.g. "moov atom not found").

    The file is opened with FFmpeg's logging left off; only when that fails is it opened again
    with a log capture, one thread at a time, to explain why. A capture installs a Python log
    callback for the whole process, and FFmpeg's decoder threads calling it while a thread holding
    the GIL waits for them (closing a decoder) deadlock: readers decode in background threads,
    so captures stay on the failure path, and the level is restored by the thread that set it.
    """
    try:
        return av.open(str(file), metadata_errors="ignore")
    except av.FFmpegError as error:
        failure = error
    with _LOG_CAPTURE:
        previous, skipped = av.logging.get_level(), av.logging.get_skip_repeated()
        av.logging.set_level(av.logging.ERROR)
        av.logging.set_skip_repeated(False)  # the same file's complaint again, in the next capture
        try:
            with av.logging.Capture() as logs:
                return av.open(str(file), metadata_errors="ignore")  # opened on a second try: fine
        except av.FFmpegError:
            complaints = [message.strip() for _, _, message in logs if message.strip()]
            reason = "; ".join(dict.fromkeys(complaints[-2:])) or failure.strerror or type(failure).__name__
            raise DecodeError(file, f"not a readable video ({reason})") from None
        finally:
            av.logging.set_level(previous)
            av.logging.set_skip_repeated(skipped)
