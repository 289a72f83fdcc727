"""PG2: pose-guided person image generation (Ma et al. 2017, "Pose Guided Person Image Generation").

Model (:class:`PoseGuidedGenerator`): ``generator`` (:class:`PoseGuidedNetwork`) holds both stages,
each a :class:`vidgan.nn.UNet`:

- stage I, ``coarse``: (condition image, Gaussian heatmaps of the target pose) -> a coarse image;
- stage II, ``refine``: (condition image, coarse image) -> a difference map; the refined image is
  coarse + difference. Its last layer starts at 1 % of its initial scale, so stage II begins at
  stage I's result;

and ``discriminators["pair"]``, a PatchGAN on (condition image, image) pairs. Heatmaps come from
:func:`vidgan.keypoints.render_heatmaps`, the pose mask from :func:`pose_mask` (limbs drawn
thick, torso diagonals, dilation), both from the keypoints of the model's body layout.

The trainer (stage schedule, losses, dataset binding, ``FAMILY``) and the evaluation on held-out
pairs live in :mod:`vidgan.train.recipes.pose_guided`.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.keypoints import (
    Keypoints,
    Skeleton,
    get_skeleton,
    points_in,
    render_heatmaps,
    render_skeleton,
)
from vidgan.models.base import GANModel
from vidgan.nn import PatchDiscriminator, UNet
from vidgan.nn.images import to_tensor, to_uint8

__all__ = [
    "PoseGuidedNetwork",
    "PoseGuidedOutput",
    "PoseGuidedGenerator",
    "mask_skeleton",
    "pose_mask",
]

#: Scale of the refiner's last layer at initialisation (near-zero difference: stage II starts at stage I).
REFINE_INIT_SCALE = 0.01


def mask_skeleton(skeleton: Skeleton) -> Skeleton:
    """``skeleton`` with the torso diagonals added (their strokes fill the torso) and no colours."""
    diagonals = ((skeleton.index("left_shoulder"), skeleton.index("right_hip")),
                 (skeleton.index("right_shoulder"), skeleton.index("left_hip")))
    return Skeleton(f"{skeleton.name}_mask", skeleton.joints, skeleton.edges + diagonals)


def pose_mask(points: Tensor, skeleton: Skeleton, size: tuple[int, int], thickness: float = 8.0,
              dilation: int = 4) -> Tensor:
    """PG2's pose mask ``(B, 1, H, W)`` in {0, 1} of body ``points (B, K, 3)`` (pixels; confidence
    0: missing): limbs, torso diagonals and joints drawn ``thickness`` pixels wide, then dilated
    by ``dilation`` pixels (a square of side ``2 * dilation + 1``). Runs on the points' device."""
    strokes = render_skeleton(points, mask_skeleton(skeleton), size, thickness=thickness, joint_radius=thickness / 2)
    mask = (strokes[:, :1] > 0).float()
    return F.max_pool2d(mask, 2 * dilation + 1, 1, dilation) if dilation > 0 else mask


class PoseGuidedOutput(NamedTuple):
    """Both stages' images ``(B, 3, H, W)`` in [-1, 1] (``refined`` may overshoot; None when only
    stage I ran)."""

    coarse: Tensor
    refined: Tensor | None


class PoseGuidedNetwork(nn.Module):
    """Stage I ``coarse`` U-Net (image + pose maps -> image) and stage II ``refine`` U-Net
    (image + coarse -> difference map); see the module docstring."""

    def __init__(self, pose_channels: int, channels: tuple[int, ...], refine_channels: tuple[int, ...],
                 norm: str = "instance") -> None:
        super().__init__()
        self.coarse = UNet(3 + pose_channels, 3, tuple(channels), norm)
        self.refine = UNet(6, 3, tuple(refine_channels), norm, tanh=False)
        with torch.no_grad():
            self.refine.head.weight.mul_(REFINE_INIT_SCALE)
            self.refine.head.bias.zero_()

    def forward(self, condition: Tensor, pose: Tensor, stage: int = 2) -> PoseGuidedOutput:
        """``condition (B, 3, H, W)`` in [-1, 1] and ``pose (B, K, H, W)`` heatmaps in [0, 1] ->
        :class:`PoseGuidedOutput`; ``stage=1`` runs stage I only."""
        coarse = self.coarse(torch.cat([condition, pose.to(condition.dtype)], dim=1))
        if stage == 1:
            return PoseGuidedOutput(coarse, None)
        return PoseGuidedOutput(coarse, self.refined(condition, coarse))

    def refined(self, condition: Tensor, coarse: Tensor) -> Tensor:
        """Stage II: ``coarse + refine(condition, coarse)``, ``(B, 3, H, W)``."""
        return coarse + self.refine(torch.cat([condition, coarse], dim=1))


class PoseGuidedGenerator(GANModel):
    """PG2 (module docstring) for images of ``size = (H, W)`` (multiples of ``2 ** len(channels)``
    and ``2 ** len(refine_channels)``) and body keypoints in the ``skeleton`` layout (coco17 or
    openpose18). ``channels`` / ``refine_channels``: U-Net widths of stages I / II; ``norm``:
    their normalisation; ``d_channels``, ``d_layers``: the pair PatchGAN. ``heatmap_sigma``,
    ``mask_thickness``, ``mask_dilation``: pose heatmaps and mask, in pixels.

    ``model(image, poses)`` generates one frame per pose (see :meth:`forward`)."""

    def __init__(
        self,
        size: tuple[int, int] = (128, 64),
        skeleton: str = "coco17",
        channels: tuple[int, ...] = (32, 64, 128, 256, 256),
        refine_channels: tuple[int, ...] = (32, 64, 128, 256),
        norm: str = "instance",
        d_channels: int = 32,
        d_layers: int = 3,
        heatmap_sigma: float = 2.0,
        mask_thickness: float = 8.0,
        mask_dilation: int = 4,
    ) -> None:
        super().__init__()
        layout = get_skeleton(skeleton)
        if layout.name not in ("coco17", "openpose18"):
            raise ValueError(f"skeleton must be a body layout (coco17 or openpose18), got {skeleton!r}")
        multiple = 2 ** max(len(channels), len(refine_channels))
        if size[0] % multiple or size[1] % multiple:
            raise ValueError(f"size {tuple(size)} must be multiples of {multiple} (the U-Nets' depth)")
        self.generator = PoseGuidedNetwork(layout.num_joints, channels, refine_channels, norm)
        self.discriminators = nn.ModuleDict({"pair": PatchDiscriminator(6, d_channels, d_layers, norm)})

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the images the model takes and makes."""
        height, width = self.config["size"]
        return int(height), int(width)

    @property
    def skeleton(self) -> Skeleton:
        return get_skeleton(self.config["skeleton"])

    def pose_maps(self, points: Tensor) -> Tensor:
        """Heatmaps ``(B, K, H, W)`` in [0, 1] of ``points (B, K, 3)`` (the generator's pose input)."""
        return render_heatmaps(points, self.size, self.config["heatmap_sigma"])

    def mask(self, points: Tensor) -> Tensor:
        """The pose mask ``(B, 1, H, W)`` of ``points (B, K, 3)`` (:func:`pose_mask`)."""
        return pose_mask(points, self.skeleton, self.size, self.config["mask_thickness"], self.config["mask_dilation"])

    def generate(self, condition: Tensor, points: Tensor, stage: int = 2) -> PoseGuidedOutput:
        """``condition (B, 3, H, W)`` in [-1, 1] in the pose ``points (B, K, 3)`` (pixels of the
        ``(H, W)`` images, confidence 0: missing) -> :class:`PoseGuidedOutput`."""
        return self.generator(condition, self.pose_maps(points), stage)

    @torch.no_grad()
    def forward(self, image: np.ndarray | Tensor, poses: Keypoints | np.ndarray, *, stage: int = 2,
                batch: int = 16) -> np.ndarray:
        """The person of ``image`` in each pose of ``poses``: RGB uint8 frames ``(T, H, W, 3)`` at
        :attr:`size`.

        ``image``: RGB uint8 ``(h, w, 3)`` or float ``(3, h, w)`` in [-1, 1], best at the model's
        aspect (it is resized to :attr:`size`); ``poses``: a track or ``(T, K, 3)`` x, y,
        confidence in ``image``'s pixels (NaN or confidence 0: missing), in the model's layout (a
        track in the other body layout is converted). ``stage=1``: the coarse images."""
        device = next(self.parameters()).device
        condition = _image_tensor(image, self.size).to(device)
        height, width = image.shape[:2] if isinstance(image, np.ndarray) else image.shape[-2:]
        scale = np.array([self.size[1] / width, self.size[0] / height], np.float32)
        points = _pose_array(poses, self.skeleton)
        points[..., :2] = (points[..., :2] + 0.5) * scale - 0.5
        frames = []
        for start in range(0, len(points), batch):
            chunk = torch.from_numpy(points[start : start + batch]).to(device)
            output = self.generate(condition.expand(len(chunk), -1, -1, -1), chunk, stage)
            frames.append(to_uint8(output.coarse if stage == 1 else output.refined))
        return np.concatenate(frames) if frames else np.zeros((0, *self.size, 3), np.uint8)


def _image_tensor(image: np.ndarray | Tensor, size: tuple[int, int]) -> Tensor:
    """RGB uint8 ``(h, w, 3)`` or float ``(3, h, w)`` in [-1, 1] -> ``(1, 3, H, W)`` in [-1, 1]."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
        if image.shape[:2] != size:
            image = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA)
        return to_tensor(image)[None]
    if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
        raise ValueError(f"image tensors must be float (3, H, W) in [-1, 1], got {tuple(image.shape)}")
    tensor = image[None].float()
    return F.interpolate(tensor, size=size, mode="area") if tuple(tensor.shape[-2:]) != size else tensor


def _pose_array(poses: Keypoints | np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """``(T, K, 3)`` float32 in ``skeleton``'s layout with missing points as ``(0, 0, 0)``."""
    points = points_in(poses, skeleton, "poses")
    visible = (points[..., 2:] > 0) & np.isfinite(points[..., :2]).all(axis=-1, keepdims=True)
    return np.where(visible, np.nan_to_num(points), 0.0).astype(np.float32)

