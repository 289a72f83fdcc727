"""The vid2vid sequential generator (Wang et al. 2018) and Everybody Dance Now's face refiner.

Each frame t is generated from the conditioning maps of frames t-L..t and the L previously
generated frames: the network predicts a raw frame, a flow from frame t to frame t-1 and an
occlusion mask, and the frame is ``mask * warp(frame[t-1], flow) + (1 - mask) * raw``.

Coarse-to-fine (pix2pixHD): level 0 is a global encoder / residual / decoder network at the
coarsest resolution; each further level is a local enhancer at twice the resolution of the one
below, whose downsampled features are added to the lower level's output. Running ``scales``
levels generates at the input's resolution with the coarsest level at ``1 / 2**(scales - 1)``.

First frames: with no previous generated frame (a fresh sequence, or ``temporal=False``) the
frame-history stream is left out, the map history is the current map repeated, and the frame is
the raw output (no flow, no warp). While fewer than L frames exist, the oldest one is repeated.

Tensors: maps ``(B, T, C, H, W)`` in [0, 1]; frames ``(B, T, 3, H, W)`` in [-1, 1]; flow
``(B, 2, H, W)`` in pixels (see :func:`vidgan.nn.flow_warp`: frame t at p shows frame t-1 at p + flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.keypoints.align import box_transform, crop_faces, paste_back
from vidgan.nn import ConvNormAct, UNet, conv, flow_warp


@dataclass(frozen=True)
class Vid2VidState:
    """What sequential generation carries from one call to the next: the last ``n <= L``
    conditioning maps ``maps (B, n, C, H, W)`` and generated frames ``frames (B, n, 3, H, W)``
    (before face refinement), oldest first."""

    maps: Tensor
    frames: Tensor


class Rollout(NamedTuple):
    """Output of :meth:`Vid2VidGenerator.unroll` over T frames.

    ``frames (B, T, 3, H, W)``; ``flows (B, T', 2, H, W)`` and ``masks (B, T', 1, H, W)`` of the
    T' frames that had a previous frame (T - 1 from a fresh start, T after a state, 0 when not
    temporal); ``state`` continues the sequence."""

    frames: Tensor
    flows: Tensor
    masks: Tensor
    state: Vid2VidState


class FaceOutput(NamedTuple):
    """Output of :class:`FaceRefiner` on N frames: ``frames (N, 3, H, W)`` with refined faces
    pasted back; ``crops (N, 3, s, s)`` the refined face crops, ``map_crops (N, C, s, s)`` the
    maps' crops and ``transforms (N, 2, 3)`` image -> crop (for the real crops); ``valid (N,)``
    False for frames without a face box (left untouched)."""

    frames: Tensor
    crops: Tensor
    map_crops: Tensor
    transforms: Tensor
    valid: Tensor


class _Residual(nn.Module):
    """pix2pixHD residual block: x + conv-norm-ReLU-conv-norm(x)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, norm=norm),
            ConvNormAct(channels, channels, norm=norm, activation="none"),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _encoder(in_channels: int, width: int, down: int, norm: str) -> nn.Sequential:
    """7x7 conv to ``width``, then ``down`` stride-2 convs doubling the width: (B, in, H, W) ->
    (B, width * 2**down, H / 2**down, W / 2**down)."""
    layers = [ConvNormAct(in_channels, width, 7, norm=norm)]
    layers += [ConvNormAct(width * 2**i, width * 2 ** (i + 1), 3, 2, norm=norm) for i in range(down)]
    return nn.Sequential(*layers)


class _Level(nn.Module):
    """One coarse-to-fine level: map and frame-history encoders (summed, plus the features of the
    level below), residual blocks, a decoder back to the level's resolution, and output heads."""

    def __init__(
        self,
        map_in: int,
        frame_in: int,
        out_channels: int,
        width: int,
        down: int,
        blocks: int,
        norm: str,
        foreground_split: bool,
    ):
        super().__init__()
        inner = width * 2**down
        self.maps = _encoder(map_in, width, down, norm)
        self.frames = _encoder(frame_in, width, down, norm)
        self.blocks = nn.Sequential(*(_Residual(inner, norm) for _ in range(blocks)))
        self.decoder = nn.Sequential(*(
            ConvNormAct(width * 2 ** (i + 1), width * 2**i, 4, 2, norm=norm, transpose=True)
            for i in reversed(range(down))
        ))
        self.raw = conv(width, out_channels, 7)
        self.flow = conv(width, 2, 3)
        nn.init.zeros_(self.flow.weight)  # starts with no motion
        nn.init.zeros_(self.flow.bias)
        self.mask = conv(width, 1, 3)
        self.background = conv(width, out_channels, 7) if foreground_split else None
        self.foreground = conv(width, 1, 3) if foreground_split else None

    def forward(self, maps: Tensor, frames: Tensor | None, below: Tensor | None) -> Tensor:
        """maps (B, map_in, h, w), frames (B, frame_in, h, w) or None, below (B, inner, h/2**down,
        w/2**down) or None -> features (B, width, h, w)."""
        x = self.maps(maps)
        if frames is not None:
            x = x + self.frames(frames)
        if below is not None:
            x = x + below
        return self.decoder(self.blocks(x))

    def heads(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """features (B, width, h, w) -> raw frame (B, out, h, w) in [-1, 1], flow (B, 2, h, w) in
        pixels, occlusion mask (B, 1, h, w) in [0, 1] (1: take the warped previous frame)."""
        raw = torch.tanh(self.raw(features))
        if self.background is not None and self.foreground is not None:
            foreground = torch.sigmoid(self.foreground(features))
            raw = foreground * raw + (1 - foreground) * torch.tanh(self.background(features))
        return raw, self.flow(features), torch.sigmoid(self.mask(features))


class FaceRefiner(nn.Module):
    """Everybody Dance Now's face GAN generator: a U-Net on the face crop of a frame and of its
    maps predicts a residual added to the crop, pasted back with a feathered mask (pixels outside
    it stay exact). The residual head starts at zero."""

    def __init__(self, map_channels: int, image_channels: int, size: int, channels: int, norm: str):
        super().__init__()
        if size < 32 or size % 16:
            raise ValueError(f"face_size must be a multiple of 16 and >= 32, got {size}")
        self.size = size
        widths = (channels, channels * 2, channels * 4, channels * 8)
        self.unet = UNet(map_channels + image_channels, image_channels, widths, norm=norm, tanh=False)
        nn.init.zeros_(self.unet.head.weight)
        nn.init.zeros_(self.unet.head.bias)

    def forward(self, frames: Tensor, maps: Tensor, boxes: Tensor) -> FaceOutput:
        """frames (N, 3, H, W) in [-1, 1], maps (N, C, H, W), boxes (N, 4) = x0, y0, x1, y1 in
        pixels of the frames (square; NaN: no face) -> :class:`FaceOutput`."""
        valid = torch.isfinite(boxes).all(dim=1)
        height, width = frames.shape[-2:]
        whole = boxes.new_tensor([0.0, 0.0, width - 1.0, height - 1.0])
        boxes = torch.where(valid[:, None], boxes, whole).float()  # a harmless box where none
        transforms = box_transform(boxes, self.size)
        with torch.autocast(frames.device.type, enabled=False):  # pixel geometry in float32
            crops = crop_faces(frames.float(), transforms, self.size)
            map_crops = crop_faces(maps.float(), transforms, self.size)
        residual = self.unet(torch.cat([map_crops, crops], dim=1))
        refined = (crops + residual.float()).clamp(-1, 1)
        with torch.autocast(frames.device.type, enabled=False):
            pasted = paste_back(frames.float(), refined, transforms).to(frames.dtype)
        frames = torch.where(valid[:, None, None, None], pasted, frames)
        return FaceOutput(frames, refined, map_crops, transforms, valid)


class Vid2VidGenerator(nn.Module):
    """The sequential generator (module docstring); built by :class:`~vidgan.models.vid2vid.Vid2Vid`.

    ``channels`` is the width of the finest level (each coarser level doubles it); the coarsest
    level downsamples ``n_downsample`` times and has ``n_blocks`` residual blocks, each enhancer
    downsamples once and has ``n_local_blocks``. Inputs at ``scales`` levels must have H and W
    divisible by ``2 ** (n_downsample + scales - 1)``.
    """

    def __init__(
        self,
        map_channels: int,
        image_channels: int,
        num_prev: int,
        channels: int,
        n_scales: int,
        n_downsample: int,
        n_blocks: int,
        n_local_blocks: int,
        norm: str,
        foreground_split: bool,
        face_size: int | None,
        face_channels: int,
    ):
        super().__init__()
        if num_prev < 1 or n_scales < 1:
            raise ValueError(f"num_prev and n_scales must be >= 1, got {num_prev} and {n_scales}")
        self.map_channels, self.num_prev, self.n_scales = map_channels, num_prev, n_scales
        self.multiple = 2 ** (n_downsample + n_scales - 1)
        map_in, frame_in = (num_prev + 1) * map_channels, num_prev * image_channels
        self.levels = nn.ModuleList(
            _Level(
                map_in, frame_in, image_channels, channels * 2 ** (n_scales - 1 - s),
                n_downsample if s == 0 else 1, n_blocks if s == 0 else n_local_blocks, norm, foreground_split,
            )
            for s in range(n_scales)
        )
        self.face = (
            FaceRefiner(map_channels, image_channels, face_size, face_channels, norm) if face_size else None
        )

    def step(self, maps: Tensor, frames: Tensor | None, scales: int) -> tuple[Tensor, Tensor, Tensor]:
        """One frame through ``scales`` levels: maps (B, (L+1)C, H, W) (history then current),
        frames (B, 3L, H, W) or None -> raw (B, 3, H, W), flow (B, 2, H, W), mask (B, 1, H, W)."""
        inputs = [(maps, frames)]
        for _ in range(scales - 1):
            maps = F.avg_pool2d(maps, 2)
            frames = None if frames is None else F.avg_pool2d(frames, 2)
            inputs.append((maps, frames))
        features = None
        for level, (level_maps, level_frames) in zip(self.levels[:scales], reversed(inputs), strict=True):
            features = level(level_maps, level_frames, features)
        return self.levels[scales - 1].heads(features)

    def unroll(
        self, maps: Tensor, state: Vid2VidState | None = None, *, temporal: bool = True, scales: int | None = None
    ) -> Rollout:
        """Generate ``maps (B, T, C, H, W)`` frame by frame, continuing ``state``. The frame
        history is detached (no gradient through previous frames, as in vid2vid).
        ``temporal=False``: every frame as a first frame (no history, flow or warp).
        ``scales``: how many coarse-to-fine levels run (default all)."""
        scales = self._check(maps, state, scales)
        length = self.num_prev
        history_maps = list(state.maps.unbind(1)) if state is not None else []
        history_frames = list(state.frames.unbind(1)) if state is not None else []
        frames, flows, masks = [], [], []
        for current in maps.unbind(1):
            previous = temporal and bool(history_frames)
            past = history_maps if previous else [current]
            past = [past[0]] * (length - len(past)) + past
            frame_input = None
            if previous:
                frame_input = torch.cat([history_frames[0]] * (length - len(history_frames)) + history_frames, dim=1)
            raw, flow, mask = self.step(torch.cat([*past, current], dim=1), frame_input, scales)
            frame = raw
            if previous:
                warped = flow_warp(history_frames[-1], flow)
                frame = mask * warped + (1 - mask) * raw
                flows.append(flow)
                masks.append(mask)
            frames.append(frame)
            history_maps = [*history_maps, current][-length:]
            history_frames = [*history_frames, frame.detach()][-length:]
        batch, _, _, height, width = maps.shape
        return Rollout(
            torch.stack(frames, dim=1),
            torch.stack(flows, dim=1) if flows else maps.new_zeros(batch, 0, 2, height, width),
            torch.stack(masks, dim=1) if masks else maps.new_zeros(batch, 0, 1, height, width),
            Vid2VidState(torch.stack(history_maps, dim=1), torch.stack(history_frames, dim=1)),
        )

    def generate(
        self,
        maps: Tensor,
        state: Vid2VidState | None = None,
        face_boxes: Tensor | None = None,
        *,
        temporal: bool = True,
        scales: int | None = None,
    ) -> tuple[Tensor, Vid2VidState]:
        """See :meth:`vidgan.models.vid2vid.Vid2Vid.generate`."""
        single = maps.dim() == 4
        if single:
            maps = maps[None]
            face_boxes = None if face_boxes is None else face_boxes[None]
        rollout = self.unroll(maps, state, temporal=temporal, scales=scales)
        frames = rollout.frames
        if face_boxes is not None:
            if self.face is None:
                raise ValueError("face_boxes given but this model was built with face_refine=False")
            if face_boxes.shape != (*frames.shape[:2], 4):
                expected = (*frames.shape[:2], 4)
                raise ValueError(f"face_boxes must be (B, T, 4) = {expected}, got {tuple(face_boxes.shape)}")
            boxes = face_boxes.flatten(0, 1).to(frames.device, torch.float32)  # pixels: never in bf16
            refined = self.face(frames.flatten(0, 1), maps.flatten(0, 1), boxes)
            frames = refined.frames.view_as(frames)
        return (frames[0] if single else frames), rollout.state

    def _check(self, maps: Tensor, state: Vid2VidState | None, scales: int | None) -> int:
        scales = self.n_scales if scales is None else scales
        if not 1 <= scales <= self.n_scales:
            raise ValueError(f"scales must be in 1..{self.n_scales}, got {scales}")
        if maps.dim() != 5 or maps.shape[2] != self.map_channels:
            raise ValueError(f"maps must be (B, T, {self.map_channels}, H, W), got {tuple(maps.shape)}")
        multiple = self.multiple // 2 ** (self.n_scales - scales)
        if maps.shape[-2] % multiple or maps.shape[-1] % multiple:
            raise ValueError(
                f"maps H and W must be multiples of {multiple} at {scales} scales, got {tuple(maps.shape[-2:])}"
            )
        if state is not None and (state.maps.shape[0] != maps.shape[0] or state.maps.shape[-2:] != maps.shape[-2:]):
            raise ValueError(f"state is for {tuple(state.maps.shape)} maps, not for {tuple(maps.shape)}")
        return scales
