"""Per-frame fidelity of generated frames to their real counterparts: PSNR and SSIM.

Every function takes frames in either convention of vidgan: RGB uint8 numpy ``(T, H, W, 3)``
(or one ``(H, W, 3)`` frame), or float tensors in [-1, 1] ``(B, 3, H, W)`` (or ``(3, H, W)``).
Both are compared on [0, 1] intensities.
"""

from __future__ import annotations

import kornia
import numpy as np
import torch

from vidgan.nn.images import to_tensor

#: Either frame convention (see the module docstring).
Frames = np.ndarray | torch.Tensor


def frames_to_tensor(frames: Frames) -> torch.Tensor:
    """Frames in either convention -> float32 tensor ``(T, 3, H, W)`` in [0, 1] (on the CPU for numpy)."""
    if isinstance(frames, torch.Tensor):
        tensor = frames if frames.ndim == 4 else frames[None]
        if tensor.ndim != 4 or tensor.shape[1] != 3 or not tensor.is_floating_point():
            raise ValueError(f"tensor frames must be float (B, 3, H, W) in [-1, 1], got {tuple(frames.shape)}")
        return ((tensor.float() + 1) / 2).clamp(0, 1)
    array = np.asarray(frames)
    array = array if array.ndim == 4 else array[None]
    if array.ndim != 4 or array.shape[3] != 3 or array.dtype != np.uint8:
        raise ValueError(f"numpy frames must be RGB uint8 (T, H, W, 3), got {array.dtype} {array.shape}")
    return to_tensor(array, signed=False)


def paired_frames(real: Frames, fake: Frames) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides as ``(T, 3, H, W)`` [0, 1] tensors on one device, checked to have the same shape."""
    a, b = frames_to_tensor(real), frames_to_tensor(fake)
    if a.shape != b.shape:
        raise ValueError(f"real {tuple(a.shape)} and fake {tuple(b.shape)} frames differ in shape (T, 3, H, W)")
    return a, b.to(a.device)


def psnr_frames(real: Frames, fake: Frames) -> np.ndarray:
    """``(T,)`` peak signal-to-noise ratio of each frame pair in dB (peak 1 on [0, 1]; 255 on
    uint8); ``+inf`` where a pair is identical."""
    a, b = paired_frames(real, fake)
    mse = ((a.double() - b.double()) ** 2).mean(dim=(1, 2, 3)).cpu().numpy()
    with np.errstate(divide="ignore"):
        return -10 * np.log10(mse)


def psnr(real: Frames, fake: Frames) -> float:
    """Mean over frames of :func:`psnr_frames`; ``+inf`` if any frame pair is identical."""
    return float(psnr_frames(real, fake).mean())


def ssim_frames(real: Frames, fake: Frames, window_size: int = 11) -> np.ndarray:
    """``(T,)`` mean structural similarity of each frame pair (kornia's Gaussian-window SSIM,
    ``window_size`` pixels, averaged over channels and pixels); 1 where a pair is identical."""
    a, b = paired_frames(real, fake)
    return kornia.metrics.ssim(a, b, window_size, max_val=1.0).mean(dim=(1, 2, 3)).cpu().numpy().astype(np.float64)


def ssim(real: Frames, fake: Frames, window_size: int = 11) -> float:
    """Mean over frames of :func:`ssim_frames`."""
    return float(ssim_frames(real, fake, window_size).mean())
