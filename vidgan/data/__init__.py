"""Datasets and data generators."""

from vidgan.data.synthetic import synthetic_frames, write_synthetic_video

__all__ = ["synthetic_frames", "write_synthetic_video"]
