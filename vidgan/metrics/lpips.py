"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric"), v0.1, with every weight read from local disk.

Two files are needed, both looked up with :func:`~vidgan.weights.find_weights` in
``weights`` (a folder) or, by default, ``$TORCH_HOME/hub/checkpoints``:

* the torchvision ImageNet backbone: ``alexnet-owt-7be5be79.pth`` (``net="alex"``) or
  ``vgg16-397923af.pth`` (``net="vgg"``); a file holding only the ``features.*`` entries works too;
* the five 1x1 "lin" layers: ``alex.pth`` or ``vgg.pth``, as shipped by the ``lpips`` pip
  package in ``lpips/weights/v0.1/`` (keys ``lin0.model.1.weight`` .. ``lin4.model.1.weight``).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torchvision
from torch import nn

from vidgan.metrics.frame import Frames, paired_frames
from vidgan.weights import find_weights

#: net -> (torchvision builder, backbone weights file, lin weights file, ReLU outputs kept: slice ends in ``features``).
NETS = {
    "alex": (torchvision.models.alexnet, "alexnet-owt-7be5be79.pth", "alex.pth", (2, 5, 8, 10, 12)),
    "vgg": (torchvision.models.vgg16, "vgg16-397923af.pth", "vgg.pth", (4, 9, 16, 23, 30)),
}

# LPIPS' input scaling, applied to images in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class LPIPS(nn.Module):
    """Learned perceptual distance of frame pairs; 0 for identical frames, larger is more different.

    ``LPIPS(net="alex", weights=None)(real, fake)`` -> ``(T,)`` tensor. Frames in either
    convention of :mod:`vidgan.metrics.frame`. Missing files raise MissingWeightsError.
    """

    def __init__(self, net: str = "alex", weights: str | os.PathLike[str] | None = None, device: str = "cpu") -> None:
        super().__init__()
        if net not in NETS:
            raise ValueError(f"unknown LPIPS net {net!r}; use {' or '.join(NETS)}")
        build, backbone_file, lin_file, ends = NETS[net]
        backbone_path = find_weights(backbone_file, weights, what=f"LPIPS torchvision {net} backbone")
        lin_path = find_weights(lin_file, weights, what=f"LPIPS {net} lin layers (from the lpips pip package)")
        with torch.device("meta"):  # no time spent initialising weights about to be replaced
            features = build(weights=None).features
        features = features.to_empty(device="cpu")
        state = torch.load(backbone_path, map_location="cpu", weights_only=True)
        features.load_state_dict({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")})
        self.slices = nn.ModuleList(features[start:end] for start, end in zip((0, *ends[:-1]), ends))
        channels = [next(m for m in reversed(s) if isinstance(m, nn.Conv2d)).out_channels for s in self.slices]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in channels)
        lin_state = torch.load(lin_path, map_location="cpu", weights_only=True)
        self.lins.load_state_dict({f"{i}.weight": lin_state[f"lin{i}.model.1.weight"] for i in range(len(channels))})
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval().to(device)
        self.device = device

    def forward(self, real: Frames, fake: Frames) -> torch.Tensor:
        """``(T,)`` distance of each frame pair."""
        a, b = (((x.to(self.device) * 2 - 1) - self.shift) / self.scale for x in paired_frames(real, fake))
        total = torch.zeros(a.shape[0], device=self.device)
        for layer, lin in zip(self.slices, self.lins):
            a, b = layer(a), layer(b)
            difference = (_unit_channels(a) - _unit_channels(b)) ** 2
            total += lin(difference).mean(dim=(1, 2, 3))
        return total

    def frames(self, real: Frames, fake: Frames) -> np.ndarray:
        """``(T,)`` distances as numpy float64, computed without gradients."""
        with torch.inference_mode():
            return self(real, fake).cpu().numpy().astype(np.float64)


def _unit_channels(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Features ``(B, C, H, W)`` divided by their L2 norm over channels at every pixel."""
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)
