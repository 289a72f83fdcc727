"""vid2vid (Wang et al. 2018) with Everybody Dance Now's face refinement (Chan et al. 2019).

Model: the sequential generator of :mod:`vidgan.models.vid2vid_generator` plus discriminators
``image`` (multi-scale PatchGAN on a frame and its maps), ``temporal_<i>`` for ``i <
temporal_scales`` (multi-scale 3D PatchGAN on ``temporal_frames`` = K frames taken every K**i
frames, each with the reference flow to the frame before it) and ``face`` (multi-scale PatchGAN on
the face crop and its maps' crop) when ``face_refine``.

The trainer (losses, schedules, dataset binding, ``FAMILY``) lives in
:mod:`vidgan.train.recipes.vid2vid`.
"""

from __future__ import annotations

from torch import Tensor, nn

from vidgan.models.base import GANModel
from vidgan.models.vid2vid_generator import Vid2VidGenerator, Vid2VidState
from vidgan.nn import MultiScaleDiscriminator

__all__ = ["Vid2Vid", "Vid2VidState"]


class Vid2Vid(GANModel):
    """vid2vid generator + discriminators (module docstring). Constructor arguments are plain
    values saved by ``save_pretrained``. Generator: ``num_prev`` (L) previous maps and frames,
    ``channels`` at the finest of ``n_scales`` coarse-to-fine levels (coarsest: ``n_downsample``
    downsamplings, ``n_blocks`` residual blocks; enhancers: ``n_local_blocks``), optional
    ``foreground_split`` (raw = m * foreground + (1 - m) * background, m predicted) and face
    refiner (``face_refine``: ``face_size`` crops, U-Net of ``face_channels``). Discriminators:
    ``num_d_scales`` scales of PatchGANs with ``d_channels`` and ``d_layers``."""

    def __init__(
        self,
        map_channels: int,
        image_channels: int = 3,
        num_prev: int = 2,
        channels: int = 32,
        n_scales: int = 1,
        n_downsample: int = 3,
        n_blocks: int = 6,
        n_local_blocks: int = 3,
        num_d_scales: int = 2,
        d_channels: int = 64,
        d_layers: int = 3,
        temporal_scales: int = 2,
        temporal_frames: int = 3,
        face_refine: bool = False,
        face_size: int = 64,
        face_channels: int = 32,
        foreground_split: bool = False,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        if temporal_frames < 2 or temporal_scales < 0:
            raise ValueError(
                f"temporal_frames must be >= 2 and temporal_scales >= 0, got {temporal_frames} and {temporal_scales}"
            )
        self.generator = Vid2VidGenerator(
            map_channels, image_channels, num_prev, channels, n_scales, n_downsample, n_blocks, n_local_blocks,
            norm, foreground_split, face_size if face_refine else None, face_channels,
        )
        conditioned = map_channels + image_channels
        discriminators = {"image": MultiScaleDiscriminator(conditioned, num_d_scales, d_channels, d_layers, norm)}
        for i in range(temporal_scales):
            discriminators[f"temporal_{i}"] = MultiScaleDiscriminator(
                image_channels + 2, num_d_scales, d_channels, d_layers, norm, dims=3
            )
        if face_refine:
            discriminators["face"] = MultiScaleDiscriminator(conditioned, num_d_scales, d_channels, d_layers, norm)
        self.discriminators = nn.ModuleDict(discriminators)

    def generate(
        self,
        maps: Tensor,
        state: Vid2VidState | None = None,
        face_boxes: Tensor | None = None,
        *,
        temporal: bool = True,
        scales: int | None = None,
    ) -> tuple[Tensor, Vid2VidState]:
        """Generate frames from conditioning ``maps (T, C, H, W)`` or ``(B, T, C, H, W)`` in [0, 1].

        Returns frames in [-1, 1] with the same leading dims and ``image_channels`` channels, and
        the state to continue with: feeding it to the next call gives exactly the frames one call
        over the whole sequence gives. ``state=None`` starts a sequence (the first frame has no
        previous frame: raw output only). ``face_boxes (T, 4)`` / ``(B, T, 4)`` x0, y0, x1, y1
        square boxes in pixels (NaN rows: no face) refine the faces (models with face_refine);
        the state keeps the unrefined frames. ``temporal=False`` generates every frame alone,
        without previous maps, frames, flow or warp (the no-temporal baseline). ``scales``: the
        coarse-to-fine levels to run (default all; fewer generate at H / 2**(n_scales - scales)
        inputs). H and W must be multiples of ``2 ** (n_downsample + scales - 1)``. Runs on the
        maps' device; call it under ``torch.no_grad()`` for inference.
        """
        return self.generator.generate(maps, state, face_boxes, temporal=temporal, scales=scales)
