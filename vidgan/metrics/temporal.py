"""Temporal consistency of a video: warping error (optical flow) and brightness flicker.

Frames in either convention of :mod:`vidgan.metrics.frame` (RGB uint8 ``(T, H, W, 3)`` or float
``(T, 3, H, W)`` in [-1, 1]); errors are on [0, 1] intensities. Keypoint jitter lives in
:func:`vidgan.keypoints.quality.jitter` (re-exported by :mod:`vidgan.metrics`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from vidgan.metrics.frame import Frames, frames_to_tensor

#: Rec. 601 luma weights of R, G, B.
_LUMA = np.array([0.299, 0.587, 0.114])


def _unit_frames(frames: Frames) -> np.ndarray:
    """``(T, H, W, 3)`` float32 in [0, 1]."""
    return frames_to_tensor(frames).permute(0, 2, 3, 1).cpu().numpy()


def consistent_flows(frames: Frames) -> tuple[np.ndarray, np.ndarray]:
    """Optical flow of each consecutive pair and where it can be trusted.

    Returns ``flows (T-1, H, W, 2)``: DIS flow (OpenCV, medium preset) from frame t to t+1, so
    that frame t at ``p`` shows what frame t+1 shows at ``p + flow[t, p]``; and ``valid (T-1, H, W)``:
    True where ``p + flow`` lands inside the frame and the forward-backward check passes,
    ``|f + b(p + f)|^2 < 0.01 (|f|^2 + |b(p + f)|^2) + 0.5`` (Sundaram et al. 2010; Ruder et al. 2016).
    """
    return _consistent_flows(_unit_frames(frames))


def _consistent_flows(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`consistent_flows` of ``(T, H, W, 3)`` float32 frames in [0, 1]."""
    gray = [cv2.cvtColor(np.rint(frame * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for frame in unit]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    height, width = gray[0].shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    flows = np.empty((len(gray) - 1, height, width, 2), np.float32)
    valid = np.empty((len(gray) - 1, height, width), bool)
    for t in range(len(gray) - 1):
        forward = dis.calc(gray[t], gray[t + 1], None)
        backward = _warp(dis.calc(gray[t + 1], gray[t], None), forward)
        mismatch = np.square(forward + backward).sum(axis=-1)
        bound = 0.01 * (np.square(forward).sum(axis=-1) + np.square(backward).sum(axis=-1)) + 0.5
        target_x, target_y = grid_x + forward[..., 0], grid_y + forward[..., 1]
        inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
        flows[t], valid[t] = forward, (mismatch < bound) & inside
    return flows, valid


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``p + flow[p]`` (bilinear, edges replicated); ``flow (H, W, 2)``."""
    height, width = flow.shape[:2]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warping_errors(
    frames: Frames,
    *,
    flow_from: Frames | None = None,
    flows: tuple[np.ndarray, np.ndarray] | None = None,
    region: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """``(T-1,)`` warping error of each consecutive pair: the mean over valid pixels and channels
    of ``|I_t - warp(I_{t+1} -> t)|`` (Lai et al. 2018, with an L1 instead of a squared error).

    Flow and occlusion mask (:func:`consistent_flows`) come from ``frames`` themselves, or from
    ``flow_from`` (the real/reference video, same shape, as Lai et al. measure a processed
    video against its input), or are given precomputed as ``flows``. ``region``: bool
    ``(T, H, W)`` or ``(H, W)``, restricts the error to pixels of frame t inside it. NaN for a
    pair without any valid pixel.
    """
    unit = _unit_frames(frames)
    if flows is None:
        reference = unit if flow_from is None else _unit_frames(flow_from)
        if reference.shape != unit.shape:
            raise ValueError(f"flow_from {reference.shape} and frames {unit.shape} differ in shape (T, H, W, 3)")
        flows = _consistent_flows(reference)
    elif flow_from is not None:
        raise ValueError("give flow_from or flows, not both")
    flow, valid = flows
    if flow.shape[:3] != (len(unit) - 1, *unit.shape[1:3]):
        raise ValueError(f"flows {flow.shape} do not fit frames {unit.shape}")
    if region is not None:
        mask = np.asarray(region.cpu() if isinstance(region, torch.Tensor) else region, bool)
        mask = np.broadcast_to(mask, unit.shape[:3])[:-1]
        valid = valid & mask
    errors = np.full(len(flow), np.nan)
    for t in range(len(flow)):
        if valid[t].any():
            errors[t] = np.abs(unit[t] - _warp(unit[t + 1], flow[t]))[valid[t]].mean()
    return errors


def warping_error(
    frames: Frames,
    *,
    flow_from: Frames | None = None,
    region: np.ndarray | torch.Tensor | None = None,
) -> float:
    """Mean over pairs of :func:`warping_errors` (pairs without valid pixels skipped; NaN if all are)."""
    errors = warping_errors(frames, flow_from=flow_from, region=region)
    return float(np.nanmean(errors)) if np.isfinite(errors).any() else float("nan")


def brightness_changes(frames: Frames) -> np.ndarray:
    """``(T-1,)`` absolute change of the mean Rec. 601 luma (on [0, 1]) between consecutive frames."""
    brightness = _unit_frames(frames).mean(axis=(1, 2), dtype=np.float64) @ _LUMA  # (T,)
    return np.abs(np.diff(brightness))


def flicker(frames: Frames) -> float:
    """Mean of :func:`brightness_changes`: global brightness flicker (0 for constant brightness)."""
    return float(brightness_changes(frames).mean())
