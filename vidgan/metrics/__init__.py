"""Metrics of generated video: frame fidelity (PSNR, SSIM, LPIPS), temporal consistency
(warping error, flicker, keypoint jitter), structure (PCK, NME) and distributions (FID, KID,
IS, FVD), and :func:`evaluate`, the one pass behind ``vidgan eval``.

Weights of LPIPS, Inception-v3 and I3D come from local disk only (see
:mod:`vidgan.metrics.lpips` and :mod:`vidgan.metrics.features` for the file names).
"""

from vidgan.keypoints.quality import jitter
from vidgan.metrics.distribution import (
    feature_statistics,
    fid,
    frechet_distance,
    fvd,
    inception_score,
    kid,
)
from vidgan.metrics.evaluate import METRICS, evaluate, format_metrics, save_metrics
from vidgan.metrics.features import (
    I3D,
    FeatureNetwork,
    InceptionV3,
    RandomFeatureNetwork,
)
from vidgan.metrics.following import (
    detection_rate,
    mouth_correlation,
    mouth_opening,
    region_masks,
    sharpness,
    sharpness_ratio,
)
from vidgan.metrics.frame import (
    frames_to_tensor,
    paired_frames,
    psnr,
    psnr_frames,
    ssim,
    ssim_frames,
)
from vidgan.metrics.lpips import LPIPS
from vidgan.metrics.structure import nme, pck
from vidgan.metrics.temporal import (
    brightness_changes,
    consistent_flows,
    flicker,
    warping_error,
    warping_errors,
)

__all__ = [
    "I3D",
    "LPIPS",
    "METRICS",
    "FeatureNetwork",
    "InceptionV3",
    "RandomFeatureNetwork",
    "brightness_changes",
    "detection_rate",
    "mouth_correlation",
    "mouth_opening",
    "region_masks",
    "sharpness",
    "sharpness_ratio",
    "consistent_flows",
    "evaluate",
    "feature_statistics",
    "fid",
    "flicker",
    "format_metrics",
    "frames_to_tensor",
    "frechet_distance",
    "fvd",
    "inception_score",
    "jitter",
    "kid",
    "nme",
    "paired_frames",
    "pck",
    "psnr",
    "psnr_frames",
    "save_metrics",
    "ssim",
    "ssim_frames",
    "warping_error",
    "warping_errors",
]
