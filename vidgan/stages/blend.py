"""Flow-guided temporal blending of generated frames: the one output smoother of the pipelines."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from vidgan.metrics import consistent_flows
from vidgan.nn import flow_warp


class FlowBlender:
    """Temporal smoothing of generated frames: ``blender(frame)`` returns the frame blended with
    the previous output warped onto it, ``(1 - weight) * frame + weight * warped``, where the DIS
    flow passes the forward-backward check (elsewhere the frame as it is).

    The flow is measured between the two outputs, or, given ``guide`` (the input frame the output
    was made from, same size), between the current and previous guides: an edit then follows the
    input's real motion. Frames are RGB uint8 ``(H, W, 3)``; ``weight`` 0 returns every frame
    unchanged; :meth:`reset` starts a new shot (nothing is blended across it).

    ``low_pass``: blend only the coarse part of the frames (a Gaussian of that sigma, pixels):
    ``frame + weight * (blur(warped) - blur(frame))``. Flicker of colour and shading is smoothed
    while the frame's own fine detail stays (a blend of whole frames resamples the previous
    output again and again, and the result grows softer)."""

    def __init__(self, weight: float, low_pass: float | None = None) -> None:
        if not 0 <= weight < 1:
            raise ValueError(f"blend weight must be in [0, 1), got {weight}")
        if low_pass is not None and not low_pass > 0:
            raise ValueError(f"low_pass must be a sigma > 0 or None, got {low_pass}")
        self.weight, self.low_pass = weight, low_pass
        self.previous: np.ndarray | None = None
        self.previous_guide: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (a cut, or a gap in a face track)."""
        self.previous = self.previous_guide = None

    def __call__(self, frame: np.ndarray, guide: np.ndarray | None = None) -> np.ndarray:
        if self.weight > 0 and self.previous is not None and (guide is None) == (self.previous_guide is None):
            pair = np.stack([frame, self.previous] if guide is None else [guide, self.previous_guide])
            (flow,), (valid,) = consistent_flows(pair)
            previous = torch.from_numpy(self.previous).permute(2, 0, 1)[None].float()
            warped = flow_warp(previous, torch.from_numpy(flow).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
            if self.low_pass is None:
                mixed = (1 - self.weight) * frame + self.weight * warped
            else:
                coarse = lambda image: cv2.GaussianBlur(image.astype(np.float32), (0, 0), self.low_pass)  # noqa: E731
                mixed = frame + self.weight * (coarse(warped) - coarse(frame))
            frame = np.where(valid[..., None], np.clip(np.rint(mixed), 0, 255), frame).astype(np.uint8)
        self.previous, self.previous_guide = frame, guide
        return frame
