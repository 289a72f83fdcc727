"""Feature networks for the distribution metrics, with weights from local disk only.

A feature network maps images ``(N, 3, H, W)`` float in [-1, 1] to features ``(N, D)`` (FID,
KID), or videos ``(N, T, 3, H, W)`` to ``(N, D)`` (FVD); any size, it resizes itself. Networks
that also classify (for the Inception score) have ``features_and_logits(images)``.

* :class:`InceptionV3`: torchvision's ``inception_v3`` with its ImageNet weights file
  ``inception_v3_google-0cc3c7bd.pth``: pool3 features (2048) and the 1000 logits. These are
  torchvision's weights, not the TF-ported ``pt_inception-2015-12-05`` of pytorch-fid, so the
  values are comparable with each other, not with published TF FIDs.
* :class:`I3D`: the Kinetics-400 I3D TorchScript file ``i3d_torchscript.pt`` of StyleGAN-V and
  most FVD code (400-d features, clips resized to 224 inside).
* :class:`RandomFeatureNetwork`: a fixed random conv net for tests and smoke runs; needs no file.
"""

from __future__ import annotations

import os
import warnings
from typing import Protocol

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from vidgan.weights import find_weights

INCEPTION_WEIGHTS = "inception_v3_google-0cc3c7bd.pth"
I3D_WEIGHTS = "i3d_torchscript.pt"


class FeatureNetwork(Protocol):
    """Images ``(N, 3, H, W)`` or videos ``(N, T, 3, H, W)``, float in [-1, 1] -> ``(N, D)``."""

    def __call__(self, batch: torch.Tensor) -> torch.Tensor: ...


class InceptionV3(nn.Module):
    """torchvision Inception-v3 from a local state dict (``weights``: the file or its folder;
    default ``$TORCH_HOME/hub/checkpoints/inception_v3_google-0cc3c7bd.pth``). Images are
    resized to 299x299 (bilinear); their [-1, 1] range is what these weights expect."""

    def __init__(self, weights: str | os.PathLike[str] | None = None, device: str = "cpu") -> None:
        super().__init__()
        path = find_weights(INCEPTION_WEIGHTS, weights, what="torchvision Inception-v3 (FID/KID/IS)")
        with torch.device("meta"):  # no time spent initialising weights about to be replaced
            model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        model = model.to_empty(device="cpu")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.classifier = model.fc
        model.fc = nn.Identity()  # the model now returns the 2048-d pool3 features
        self.model = model
        self.requires_grad_(False).eval().to(device)
        self.device = device

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, 3, H, W)`` in [-1, 1] -> pool3 features ``(N, 2048)`` and logits ``(N, 1000)``."""
        images = F.interpolate(images.to(self.device).float(), size=(299, 299), mode="bilinear", align_corners=False)
        features = self.model(images)
        return features, self.classifier(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` in [-1, 1] -> pool3 features ``(N, 2048)``."""
        return self.features_and_logits(images)[0]


class I3D:
    """The I3D TorchScript file of FVD (``weights``: the file or its folder; default
    ``$TORCH_HOME/hub/checkpoints/i3d_torchscript.pt``), loaded with ``torch.jit.load``."""

    def __init__(self, weights: str | os.PathLike[str] | None = None, device: str = "cpu") -> None:
        path = find_weights(I3D_WEIGHTS, weights, what="I3D TorchScript (FVD)")
        with warnings.catch_warnings():  # the file is TorchScript, whatever torch thinks of the format
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", FutureWarning)
            self.model = torch.jit.load(str(path), map_location=device).eval()
        self.device = device

    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        """Videos ``(N, T, 3, H, W)`` in [-1, 1] -> features ``(N, 400)`` (T >= 9 for this I3D)."""
        clips = videos.to(self.device).float().permute(0, 2, 1, 3, 4).contiguous()  # (N, 3, T, H, W)
        with torch.inference_mode():
            return self.model(clips, rescale=False, resize=True, return_features=True)


class RandomFeatureNetwork(nn.Module):
    """A small conv net with weights drawn from ``seed``: ``dim`` features per image and
    ``classes`` logits. Videos give ``2 * dim``: the mean over time of the frame features and of
    their absolute frame-to-frame change (so temporal incoherence moves them). For tests only."""

    def __init__(self, seed: int = 0, dim: int = 64, classes: int = 10, device: str = "cpu") -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.body = nn.Sequential(
                nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(32, dim, 4, 2, 1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            )
            self.classifier = nn.Linear(dim, classes)
            for layer in self.modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):  # He init: features of a usable scale
                    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                    nn.init.zeros_(layer.bias)
        self.requires_grad_(False).eval().to(device)
        self.device = device

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, 3, H, W)`` -> features ``(N, dim)`` and logits ``(N, classes)``."""
        features = self.body(images.to(self.device).float())
        return features, self.classifier(features)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` -> ``(N, dim)``; videos ``(N, T, 3, H, W)`` -> ``(N, 2 * dim)``."""
        if batch.ndim == 4:
            return self.features_and_logits(batch)[0]
        frames = self(batch.flatten(0, 1)).unflatten(0, batch.shape[:2])  # (N, T, dim)
        return torch.cat([frames.mean(dim=1), frames.diff(dim=1).abs().mean(dim=1)], dim=1)
