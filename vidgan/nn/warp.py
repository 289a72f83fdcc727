"""Backward warping by optical flow, and flow resizing.

Flow is (B, 2, H, W) in pixels: ``flow[:, 0]`` is dx, ``flow[:, 1]`` is dy, and the warped image
at (x, y) samples the source at (x + dx, y + dy). Sampling is ``torch.nn.functional.grid_sample``
with ``align_corners=False`` everywhere (pixel (i, j) covers [j, j + 1) × [i, i + 1), as in
``F.interpolate`` and torchvision's resize), so resizing a flow by a factor s scales its
magnitudes by exactly s. Pure PyTorch: no custom CUDA op, works under autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def flow_warp(image: Tensor, flow: Tensor, padding_mode: str = "border", mode: str = "bilinear") -> Tensor:
    """Backward-warp ``image`` (B, C, H, W) by ``flow`` (B, 2, H, W) in pixels → (B, C, H, W).

    Samples outside the image follow ``padding_mode`` (``"border"``, ``"zeros"``,
    ``"reflection"``); ``mode`` is ``"bilinear"`` or ``"nearest"``. Coordinates are computed and
    sampled in float32 at least (exact at any resolution under AMP); the result has
    ``image``'s dtype.
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W), got {tuple(flow.shape)}")
    if image.dim() != 4 or image.shape[0] != flow.shape[0] or image.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"image {tuple(image.shape)} and flow {tuple(flow.shape)} differ in batch or size")
    _, _, h, w = flow.shape
    dtype = torch.promote_types(image.dtype, torch.float32)
    flow = flow.to(dtype)
    xs = torch.arange(w, device=flow.device, dtype=dtype).view(1, 1, w) + flow[:, 0]
    ys = torch.arange(h, device=flow.device, dtype=dtype).view(1, h, 1) + flow[:, 1]
    grid = torch.stack([(2 * xs + 1) / w - 1, (2 * ys + 1) / h - 1], dim=-1)  # (B, H, W, 2)
    warped = F.grid_sample(image.to(dtype), grid, mode=mode, padding_mode=padding_mode, align_corners=False)
    return warped.to(image.dtype)


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinearly resize ``flow`` (B, 2, H, W) to ``size`` = (h, w) → (B, 2, h, w), scaling dx by
    w / W and dy by h / H so the flow stays in pixels of the new size."""
    h, w = flow.shape[-2:]
    resized = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], device=flow.device, dtype=resized.dtype)
    return resized * scale.view(1, 2, 1, 1)
