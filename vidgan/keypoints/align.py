"""Face alignment: similarity transforms to a 5-point template, crops, and feathered paste-back.

The template is ArcFace's 5 points (eye centres, nose tip, mouth corners) scaled to the crop;
they are taken from iBUG-68 landmarks. Transforms are ``(B, 2, 3)`` matrices mapping image pixels
to crop pixels (OpenCV's ``warpAffine`` convention, pixel centres on integers), applied with
``kornia.geometry.transform.warp_affine``, so everything runs batched on the images' device.

For video, smooth the landmarks over time first (``vidgan.keypoints`` smoothing filters): a
transform is a function of one frame's landmarks only, so stable landmarks give stable crops.
"""

from __future__ import annotations

import numpy as np
import torch
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import invert_affine_transform, warp_affine

from vidgan.keypoints.keypoints import Keypoints

#: ArcFace's 5 points in a 112 x 112 crop: left eye, right eye (as seen), nose tip, mouth corners.
ARCFACE_TEMPLATE = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)


def estimate_similarity(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``source`` onto ``target``.

    ``source (B, K, 2)``, ``target (B, K, 2)`` or ``(K, 2)``; returns ``(B, 2, 3)``. This is
    Umeyama's closed form in 2-D (no reflection). Points that are not finite in either set are
    ignored; each batch item needs two distinct valid points.
    """
    target = target.to(source).expand_as(source)
    valid = torch.isfinite(source).all(dim=-1) & torch.isfinite(target).all(dim=-1)
    w = valid.to(source.dtype)
    src = torch.where(valid[..., None], source, 0.0)
    dst = torch.where(valid[..., None], target, 0.0)
    total = w.sum(dim=-1, keepdim=True)
    src_mean = (w[..., None] * src).sum(dim=-2) / total
    dst_mean = (w[..., None] * dst).sum(dim=-2) / total
    s, d = src - src_mean[:, None], dst - dst_mean[:, None]
    spread = (w * (s**2).sum(dim=-1)).sum(dim=-1)
    if not bool((spread > 0).all()):
        raise ValueError("a similarity needs two distinct valid points in every item")
    a = (w * (s * d).sum(dim=-1)).sum(dim=-1) / spread
    b = (w * (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0])).sum(dim=-1) / spread
    rotation = torch.stack([torch.stack([a, -b], dim=-1), torch.stack([b, a], dim=-1)], dim=-2)
    translation = dst_mean - (rotation @ src_mean[..., None])[..., 0]
    return torch.cat([rotation, translation[..., None]], dim=-1)


def apply_transform(transforms: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply ``transforms (B, 2, 3)`` to ``points (B, K, 2)``: ``(B, K, 2)``."""
    return points @ transforms[:, :, :2].transpose(1, 2) + transforms[:, None, :, 2]


def face_template(crop_size: int, scale: float = 1.0) -> torch.Tensor:
    """The 5 template points ``(5, 2)`` in a ``crop_size`` crop; ``scale > 1`` zooms out by that factor."""
    unit = torch.tensor(ARCFACE_TEMPLATE, dtype=torch.float64) / 112.0
    return ((unit - 0.5) / scale + 0.5) * crop_size


def face_transform(landmarks: torch.Tensor, crop_size: int, scale: float = 1.0) -> torch.Tensor:
    """Similarity transforms ``(B, 2, 3)`` (image -> crop) fitting iBUG-68 ``landmarks (B, 68, 2)``
    to :func:`face_template` by least squares on eye centres, nose tip and mouth corners."""
    five = _five_points(landmarks.double())
    return estimate_similarity(five, face_template(crop_size, scale)).to(landmarks.dtype)


def box_transform(boxes: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Scale-and-shift transforms ``(B, 2, 3)`` (image -> crop) mapping square ``boxes (B, 4)``
    (x0, y0, x1, y1) onto a ``crop_size`` crop (body crops from :func:`vidgan.keypoints.track.stable_crop_boxes`)."""
    scale = (crop_size - 1) / (boxes[:, 2] - boxes[:, 0])
    transforms = boxes.new_zeros(boxes.shape[0], 2, 3)
    transforms[:, 0, 0] = transforms[:, 1, 1] = scale
    transforms[:, 0, 2] = -boxes[:, 0] * scale
    transforms[:, 1, 2] = -boxes[:, 1] * scale
    return transforms


def crop_faces(images: torch.Tensor, transforms: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Crops ``(B, C, s, s)`` of ``images (B, C, H, W)`` float through ``transforms (B, 2, 3)``."""
    return warp_affine(images, transforms.to(images), (crop_size, crop_size), align_corners=True)


def paste_mask(
    transforms: torch.Tensor, crop_size: int, image_size: tuple[int, int], feather: float = 0.1
) -> torch.Tensor:
    """Blend weights ``(B, 1, H, W)`` in [0, 1] of crops pasted back through ``transforms``.

    The crop's full mask is eroded by ``feather * crop_size`` pixels and blurred within that margin
    (Gaussian), so the weight falls smoothly to exactly 0 before the crop's border.
    """
    margin = max(2, round(feather * crop_size))
    mask = transforms.new_zeros(transforms.shape[0], 1, crop_size, crop_size)
    mask[..., margin:-margin, margin:-margin] = 1.0
    radius = margin // 2
    mask = gaussian_blur2d(mask, 2 * radius + 1, (radius / 2, radius / 2), border_type="constant")
    return warp_affine(mask, invert_affine_transform(transforms), image_size, align_corners=True)


def paste_back(
    images: torch.Tensor, crops: torch.Tensor, transforms: torch.Tensor, feather: float = 0.1
) -> torch.Tensor:
    """Warp ``crops (B, C, s, s)`` back into ``images (B, C, H, W)`` and blend with :func:`paste_mask`;
    pixels where the mask is 0 are exactly the original image."""
    transforms = transforms.to(images)
    size = tuple(images.shape[-2:])
    warped = warp_affine(crops.to(images), invert_affine_transform(transforms), size, align_corners=True)
    mask = paste_mask(transforms, crops.shape[-1], size, feather)
    return images * (1 - mask) + warped * mask


def _five_points(landmarks: torch.Tensor) -> torch.Tensor:
    """iBUG-68 ``(B, 68, 2)`` -> ``(B, 5, 2)``: eye centres, nose tip, mouth corners (template order)."""
    eyes = torch.stack([landmarks[:, 36:42].mean(dim=1), landmarks[:, 42:48].mean(dim=1)], dim=1)
    return torch.cat([eyes, landmarks[:, [30, 48, 54]]], dim=1)


def head_boxes(keypoints: Keypoints, scale: float = 2.2) -> np.ndarray:
    """``(T, 4)`` float32 square boxes ``x0, y0, x1, y1`` around the head of COCO-17 body
    keypoints (Everybody Dance Now's face region): centred on the mean of the visible nose, eyes
    and ears, side ``scale`` times their spread (at least the eye distance times 3); NaN rows
    where no head point is visible."""
    head = keypoints.points[:, :5]  # nose, eyes, ears
    boxes = np.full((len(keypoints), 4), np.nan, np.float32)
    for t, points in enumerate(head):
        visible = points[points[:, 2] > 0, :2]
        if len(visible) < 2:
            continue
        centre = visible.mean(axis=0)
        spread = float(np.ptp(visible, axis=0).max())
        eyes = points[[1, 2]]
        eye_distance = float(np.linalg.norm(eyes[0, :2] - eyes[1, :2])) if (eyes[:, 2] > 0).all() else 0.0
        half = max(scale * spread, 3 * eye_distance) / 2
        boxes[t] = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
    return boxes
