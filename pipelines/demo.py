"""The smoke job ``make demo`` runs: generate a clip, decode it in clips, process, re-encode.

It exercises the whole I/O path on data the project makes itself (no download, no shared
folder): synthetic video with a soundtrack -> :class:`~vidgan.io.VideoReader` clips -> a kornia
edge filter on torch tensors (on the GPU when there is one) -> :class:`~vidgan.io.VideoWriter`
with the source's audio, written atomically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import kornia
import numpy as np
import torch

from vidgan.data import write_synthetic_video
from vidgan.io import VideoInfo, VideoReader, VideoWriter, probe
from vidgan.progress import progress


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo job (``configs/pipelines/demo.yaml``)."""

    out_dir: str = "out/demo"
    frames: int = 96
    height: int = 256
    width: int = 256
    fps: int = 24
    clip_length: int = 16
    crf: int = 18
    preset: str = "veryfast"
    device: str = "auto"

    def __post_init__(self) -> None:
        if min(self.frames, self.height, self.width, self.fps, self.clip_length) < 1:
            raise ValueError("frames, height, width, fps and clip_length must be >= 1")


@dataclass(frozen=True)
class DemoReport:
    """What the demo produced."""

    source: VideoInfo
    output: VideoInfo
    seconds: float

    def describe(self) -> str:
        rate = self.output.frames / self.seconds if self.seconds else float("nan")
        return (
            f"source: {self.source.path} ({self.source.frames} frames, audio {self.source.audio_codec})\n"
            f"output: {self.output.path} ({self.output.frames} frames {self.output.width}x{self.output.height}, "
            f"audio {self.output.audio_codec})\n"
            f"processed {self.output.frames} frames in {self.seconds:.1f} s ({rate:.1f} frames/s)"
        )


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def edge_panel(clip: np.ndarray, device: torch.device) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 -> ``(T, H, 2W, 3)``: each frame beside its Sobel edge map."""
    frames = torch.from_numpy(clip).to(device).permute(0, 3, 1, 2).float() / 255.0
    edges = kornia.filters.sobel(kornia.color.rgb_to_grayscale(frames)).clamp(0, 1)
    panel = torch.cat([frames, edges.expand_as(frames)], dim=3)
    return (panel * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def run_demo(config: DemoConfig) -> DemoReport:
    """Run the demo job and return what it wrote."""
    out_dir = Path(config.out_dir)
    source = write_synthetic_video(
        out_dir / "source.mp4", frames=config.frames, size=(config.height, config.width), fps=config.fps
    )
    device = resolve_device(config.device)
    reader = VideoReader(source, strict=True)
    started = time.perf_counter()
    target = out_dir / "processed.mp4"
    with VideoWriter(target, reader.info.fps, crf=config.crf, preset=config.preset, audio_from=source) as writer:
        bar = progress(total=len(reader), desc="demo")
        for clip in reader.clips(config.clip_length):
            writer.write_all(edge_panel(clip.frames, device))
            bar.update(len(clip.frame_index))
        bar.close()
    return DemoReport(probe(source), probe(target), time.perf_counter() - started)
