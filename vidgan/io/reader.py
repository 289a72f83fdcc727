"""``VideoReader``: RGB frames and fixed-size clips from any video PyAV can read."""

from __future__ import annotations

import bisect
import os
from collections.abc import Generator, Iterator

import av
import av.filter
import numpy as np
from av.video.reformatter import VideoReformatter

from vidgan.errors import DecodeError
from vidgan.io.clips import Clip, cut_clips
from vidgan.io.container import open_video
from vidgan.io.prefetch import prefetched
from vidgan.io.probe import read_info

#: Pixel formats _RgbConverter converts through its pooled filter graph (8-bit 4:2:0).
_POOLED_FORMATS = {"yuv420p", "yuvj420p"}


class VideoReader:
    """Decode a video into RGB uint8 frames ``(H, W, 3)``, lazily and in bounded memory.

    Rotation metadata is applied and every pixel format (10-bit, gray, 4:4:4, ...) is converted to
    RGB. Decoding is threaded twice over: FFmpeg decodes ``threads`` frames at once (default usable
    CPU cores + 1), and it runs in a background thread that keeps up to ``prefetch`` decoded frames
    ready (:meth:`clips`: at least a clip's worth; 0: decode in the caller's thread), so decoding
    goes on while the caller works on what it was given. Memory stays bounded whatever the
    video's length: the decoder's reference frames, ``threads`` frames in flight and the ones
    decoded ahead.

    Frames are numbered ``0..len-1`` in presentation order; ``frames(start=...)`` seeks to the
    nearest keyframe and decodes forward, so seeking gives the same pixels as reading from the
    start.

    Damage the decoder can detect (missing or corrupt frames, a truncated file) is recorded in
    :attr:`damage`; with ``strict=True`` the first damage raises :class:`DecodeError` instead.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        video_id: str | None = None,
        threads: int | None = None,
        prefetch: int = 4,
        strict: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        container, stream = open_video(path)
        with container:
            self.info, self._times = read_info(path, container, stream)
        self.video_id = video_id if video_id is not None else self.info.path.stem
        # Usable cores + 1 measured fastest here; FFmpeg's automatic count (0) was ~14% slower.
        self.threads = threads if threads is not None else len(os.sched_getaffinity(0)) + 1
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self.prefetch = prefetch
        self.strict = strict
        self.damage: list[str] = []
        if self.info.truncated:
            self._report(
                f"truncated: header declares {self.info.declared_frames} frames, "
                f"{self.info.frames} are present"
            )

    def __len__(self) -> int:
        return self.info.frames

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()

    def frame_index_at(self, seconds: float) -> int:
        """Index of the frame shown at ``seconds`` from the start."""
        return min(max(int(seconds * self.info.fps + 1e-6), 0), len(self) - 1)

    def read(self, index: int) -> np.ndarray:
        """The single frame at ``index``."""
        for frame in self.frames(start=index, stop=index + 1):
            return frame
        raise DecodeError(self.path, f"frame {index} could not be decoded")

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield frames ``start..stop-1`` (``stop=None``: to the end)."""
        for _, frame in self.indexed_frames(start, stop):
            yield frame

    def indexed_frames(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_index, frame)`` for frames ``start..stop-1``."""
        return self._indexed_frames(start, stop, self.prefetch)

    def _indexed_frames(self, start: int, stop: int | None, ahead: int) -> Iterator[tuple[int, np.ndarray]]:
        """:meth:`indexed_frames`, decoding up to ``ahead`` frames ahead in a thread (0: none)."""
        stop = len(self) if stop is None else min(stop, len(self))
        if not 0 <= start < len(self):
            if start == len(self) == stop:
                return
            raise IndexError(f"{self.path}: frame {start} out of range 0..{len(self) - 1}")
        to_rgb = _RgbConverter()
        expected = start
        if ahead:
            decoded = prefetched(lambda: self._decoded(start, stop), ahead)
        else:
            decoded = self._decoded(start, stop)
        for index, frame in decoded:
            expected = index + 1
            yield index, self._rotated(to_rgb(frame))
        if expected < stop:
            self._report(f"frames {expected}..{stop - 1} missing (stream ended early)")

    def clips(
        self,
        length: int,
        *,
        stride: int | None = None,
        start: int = 0,
        stop: int | None = None,
        drop_last: bool = False,
    ) -> Iterator[Clip]:
        """Yield :class:`Clip` s of ``length`` frames, ``stride`` apart (default: no overlap),
        holding only ``length`` frames at a time. The last is shorter unless ``drop_last``.

        While the caller works on a clip, the next one is decoded (``prefetch`` frames ahead,
        at least ``length``; none with ``prefetch=0``).
        """
        return cut_clips(
            self._indexed_frames(start, stop, max(self.prefetch, length) if self.prefetch else 0),
            video_id=self.video_id,
            fps=self.info.fps,
            length=length,
            stride=stride,
            drop_last=drop_last,
        )

    def _decoded(self, start: int, stop: int) -> Generator[tuple[int, av.VideoFrame], None, None]:
        """The decoded (not yet converted) frames ``start..stop-1`` with their indices."""
        container, stream = open_video(self.path)
        with container:
            stream.thread_type = "AUTO"
            stream.thread_count = self.threads
            for index, frame in self._decode(container, stream, start):
                if index >= stop:
                    break
                if index >= start:
                    yield index, frame

    def _decode(self, container, stream, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decode from the keyframe at or before ``start``, numbering frames in output order.

        After a seek the first frame's timestamp places it in the stream; the frames after it
        are counted (decoders such as packed-B-frame MPEG-4 emit timestamps out of order).
        """
        index = 0
        if start > 0:
            container.seek(int(self._times[start]), stream=stream, backward=True)
            index = None
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.FFmpegError as error:
                self._report(f"packet at pts {packet.pts} does not decode ({error.strerror})")
                continue
            for frame in decoded:
                if index is None:
                    index = self._index_of(frame)
                    if index is None:  # no usable timestamp: count from the very start
                        container.seek(0)
                        yield from self._decode(container, stream, 0)
                        return
                if frame.is_corrupt:
                    self._report(f"frame {index} is marked corrupt by the decoder")
                yield index, frame
                index += 1

    def _index_of(self, frame: av.VideoFrame) -> int | None:
        if frame.pts is None:
            return None
        position = bisect.bisect_left(self._times, frame.pts)
        if position < len(self._times) and self._times[position] == frame.pts:
            return position
        return None

    def _rotated(self, rgb: np.ndarray) -> np.ndarray:
        if self.info.rotation:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=-self.info.rotation // 90))
        return rgb

    def _report(self, problem: str) -> None:
        if self.strict:
            raise DecodeError(self.path, problem)
        self.damage.append(problem)


class _RgbConverter:
    """Decoded frames -> new RGB arrays, exactly ``frame.to_ndarray(format="rgb24")`` (swscale,
    bilinear), with the state one decoding pass reuses; all on one thread, leaving the other
    cores to the decoder.

    8-bit 4:2:0 (nearly every H.264/HEVC file) goes through a one-filter graph whose output frames
    come from FFmpeg's buffer pool. A fresh RGB frame per call, as ``reformat`` allocates, comes
    from an aligned allocation that glibc maps and unmaps each time once the caller keeps the
    previous frame: ~1000 page faults (~3 ms) per 1080p frame. Other formats (10-bit, gray, 4:4:4,
    RGB, ...) go through one swscale context kept across frames (``reformat``).
    """

    def __init__(self) -> None:
        self.reformatter = VideoReformatter()
        self.graph: av.filter.Graph | None = None
        self.graph_input: tuple[int, int, str] | None = None
        self.source = self.sink = None  # the graph's buffer source and sink

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if frame.format.name not in _POOLED_FORMATS:
            return self.reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()
        if self.graph_input != (frame.width, frame.height, frame.format.name):
            self._build_graph(frame)
        self.source.push(frame)
        return self.sink.pull().to_ndarray()

    def _build_graph(self, frame: av.VideoFrame) -> None:
        """buffer -> scale to rgb24 (bilinear, as ``reformat``) -> sink, for frames like ``frame``;
        the scale filter reads each frame's colour space and range."""
        graph = av.filter.Graph()
        graph.threads = 1
        self.source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=1)
        self.sink = graph.add("buffersink")
        graph.link_nodes(self.source, graph.add("scale", "flags=bilinear"), graph.add("format", "rgb24"), self.sink)
        graph.configure()
        self.graph, self.graph_input = graph, (frame.width, frame.height, frame.format.name)
