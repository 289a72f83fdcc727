"""Reference-warp generator: a target's own frames, warped onto the driving pose and repaired.

The few-shot vid2vid idea (Wang et al. 2019) applied per target: for each output frame,
reference frames of the target whose keypoints are nearest the driving keypoints are warped
onto them by a thin-plate spline (:func:`vidgan.keypoints.warp.tps_warp`: face landmarks or
body joints, the frame's border fixed), and a U-Net sees the driving maps and the warped
references and predicts what warping cannot show (the inside of an opening mouth, occlusions,
shading) as an image plus soft weights: ``frame = sum_r w_r * warped_r + w_drawn * drawn``. Where
a warp is right the result carries the target's real pixels, sharp; the network draws the rest.

Discriminator: a multi-scale PatchGAN on (maps, frame), used once the adversarial term is on.
The trainer lives in :mod:`vidgan.train.recipes.ref_warp`; the reference frames a model draws
from are :class:`vidgan.data.reference_frames.ReferenceFrames`, shipped in its folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from vidgan.keypoints.keypoints import present_xy
from vidgan.keypoints.warp import tps_warp, unseen_openings
from vidgan.models.base import GANModel
from vidgan.nn import MultiScaleDiscriminator, UNet
from vidgan.nn.images import to_tensor, to_uint8


#: Added to the references' blend logits: an untrained network starts from the warped pixels
#: (the drawn image weighs e^-3 of one reference) and learns where to draw instead. Outside a
#: reference's coverage its logit is -1e4: nothing is taken from outside a frame.
REFERENCE_PRIOR = 3.0
class RefWarpOutput(NamedTuple):
    """``frames (B, 3, H, W)`` in [-1, 1]; ``warped (B, R, 3, H, W)`` the references after the
    warp; ``weights (B, R + 1, H, W)`` the blend weights (last: the drawn image); ``drawn (B, 3,
    H, W)`` the image the network draws; ``coverage (B, R, H, W)`` 1 where a reference can show
    the pixel."""

    frames: Tensor
    warped: Tensor
    weights: Tensor
    drawn: Tensor
    coverage: Tensor


class RefWarpGenerator(nn.Module):
    """Warp ``references`` onto the driving keypoints, then blend them with a drawn image."""

    def __init__(self, map_channels: int, references: int, channels: tuple[int, ...], norm: str,
                 opening: tuple[int, ...] = (), opening_ratio: float = 0.5) -> None:
        super().__init__()
        self.references, self.opening, self.opening_ratio = references, tuple(opening), opening_ratio
        self.unet = UNet(map_channels + 4 * references, 3 + references + 1, tuple(channels), norm, tanh=False)

    def forward(self, maps: Tensor, points: Tensor, references: Tensor, reference_points: Tensor,
                choice_temperature: float = 1.0) -> RefWarpOutput:
        """``maps (B, C, H, W)`` in [0, 1], ``points (B, K, 2)`` driving keypoints in pixels (NaN:
        missing), ``references (B, R, 3, H, W)`` in [-1, 1] with ``reference_points (B, R, K, 2)``.
        ``choice_temperature`` < 1 sharpens the choice among the references (the share drawn stays
        as predicted): averaging two slightly misaligned references blurs, picking one does not."""
        batch, count = references.shape[:2]
        if count != self.references:
            raise ValueError(f"the model takes {self.references} references, got {count}")
        driving, sources = points.repeat_interleave(count, dim=0), reference_points.flatten(0, 1)
        warped, coverage = tps_warp(references.flatten(0, 1), sources, driving)
        if self.opening:  # an opening wider than the reference's is drawn, not stretched from its lips
            unseen = unseen_openings(driving.float(), sources.float(), self.opening, references.shape[-2:],
                                     self.opening_ratio)
            coverage = coverage * (1 - unseen.to(coverage.dtype))
        warped, coverage = warped.unflatten(0, (batch, count)), coverage.unflatten(0, (batch, count))
        inputs = torch.cat([maps * 2 - 1, warped.flatten(1, 2), coverage.flatten(1, 2) * 2 - 1], dim=1)
        out = self.unet(inputs.to(maps.dtype))
        drawn = torch.tanh(out[:, :3])
        logits = out[:, 3:].float()
        logits[:, :count] = logits[:, :count] + REFERENCE_PRIOR - 1e4 * (1 - coverage[:, :, 0].float())
        weights = logits.softmax(dim=1)
        if choice_temperature != 1.0:
            chosen = (logits[:, :count] / choice_temperature).softmax(dim=1) * (1 - weights[:, count:])
            weights = torch.cat([chosen, weights[:, count:]], dim=1)
        frames = (weights[:, :count, None] * warped.float()).sum(1) + weights[:, count:] * drawn.float()
        return RefWarpOutput(frames.to(drawn.dtype), warped, weights, drawn, coverage[:, :, 0])


class RefWarp(GANModel):
    """Reference-warp generator + discriminator (module docstring). ``map_channels``: channels
    of the conditioning maps (3 skeletons, 1 face edges); ``references``: frames warped per
    output; ``channels``: the U-Net's widths, one per level (H and W must be multiples of
    ``2 ** len(channels)``); ``opening``: keypoint indices around a region a reference shows only
    as far as it is open (faces: the inner lips, iBUG-68 60-67), drawn where the driving one is
    wider: a reference covers it only when its own is at least ``opening_ratio`` as open
    (:func:`~vidgan.keypoints.warp.unseen_openings`); discriminator: ``num_d_scales`` PatchGANs of ``d_channels`` and ``d_layers``."""

    def __init__(
        self,
        map_channels: int,
        references: int = 2,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        num_d_scales: int = 2,
        d_channels: int = 32,
        d_layers: int = 3,
        norm: str = "instance",
        opening: tuple[int, ...] = (),
        opening_ratio: float = 0.5,
    ) -> None:
        super().__init__()
        if references < 1 or not channels:
            raise ValueError(f"references must be >= 1 and channels non-empty, got {references} and {channels}")
        if opening and len(opening) < 3:
            raise ValueError(f"opening must name at least 3 keypoints (a polygon), got {opening}")
        if not 0 < opening_ratio <= 1:
            raise ValueError(f"opening_ratio must be in (0, 1], got {opening_ratio}")
        self.generator = RefWarpGenerator(map_channels, references, tuple(channels), norm, tuple(opening),
                                          opening_ratio)
        self.discriminators = nn.ModuleDict(
            {"image": MultiScaleDiscriminator(map_channels + 3, num_d_scales, d_channels, d_layers, norm)}
        )

    @property
    def size_multiple(self) -> int:
        """H and W of the frames must be multiples of this."""
        return 2 ** len(self.config["channels"])

    def generate(self, maps: Tensor, points: Tensor, references: Tensor, reference_points: Tensor,
                 choice_temperature: float = 1.0) -> RefWarpOutput:
        """One output per driving frame (shapes and ``choice_temperature``:
        :meth:`RefWarpGenerator.forward`). Call it under ``torch.no_grad()`` for inference."""
        return self.generator(maps, points, references, reference_points, choice_temperature)

    @torch.no_grad()
    def render(
        self,
        maps: np.ndarray,
        points: np.ndarray,
        reference_frames: np.ndarray,
        reference_points: np.ndarray,
        chosen: np.ndarray,
        *,
        batch: int = 8,
        choice_temperature: float = 1.0,
    ) -> Iterator[np.ndarray]:
        """Frames of a whole driving sequence, ``batch`` at a time, as uint8 ``(b, H, W, 3)``.

        ``maps (T, H, W, C)`` uint8 (value / 255), ``points (T, K, 3)`` driving keypoints,
        ``reference_frames (N, H, W, 3)`` uint8 with ``reference_points (N, K, 3)`` and
        ``chosen (T, R)`` the references of each frame (e.g. :meth:`PoseIndex.follow`)."""
        device = next(self.parameters()).device
        driving_xy, bank_xy = present_xy(points).astype(np.float32), present_xy(reference_points).astype(np.float32)
        for start in range(0, len(maps), batch):
            span = slice(start, start + batch)
            refs = chosen[span]
            frames = to_tensor(reference_frames[refs]).to(device)
            ref_xy = torch.from_numpy(bank_xy[refs]).to(device)
            xy = torch.from_numpy(driving_xy[span]).to(device)
            conditioning = to_tensor(maps[span], signed=False).to(device)
            out = self.generate(conditioning, xy, frames, ref_xy, choice_temperature).frames
            yield to_uint8(out)

