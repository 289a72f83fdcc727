"""VGG19 perceptual loss (pix2pixHD, vid2vid), with torchvision's VGG19 weights from local disk.

Nothing is downloaded: the weights file ``vgg19-dcbb9e9d.pth`` (torchvision's ImageNet VGG19)
is looked up with :func:`~vidgan.weights.find_weights`, in the given path or else in
torch's checkpoints folder (``$TORCH_HOME/hub/checkpoints``).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import vgg19

from vidgan.errors import InputError, MissingWeightsError
from vidgan.weights import find_weights

VGG19_FILE = "vgg19-dcbb9e9d.pth"
_WHAT = "VGG19 (perceptual loss)"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names(features: nn.Sequential) -> list[str]:
    """Caffe-style names of VGG feature layers: conv1_1, relu1_1, conv1_2, ..., pool1, conv2_1, ..."""
    names, block, index = [], 1, 0
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            index += 1
            names.append(f"conv{block}_{index}")
        elif isinstance(layer, nn.ReLU):
            names.append(f"relu{block}_{index}")
        else:
            names.append(f"pool{block}")
            block, index = block + 1, 0
    return names


def _load_features(path: os.PathLike[str]) -> nn.Sequential:
    """torchvision's ``vgg19().features`` holding the ``features.*`` weights of the file at ``path``."""
    with torch.device("meta"):  # no random init: every weight comes from the file
        features = vgg19(weights=None).features
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
        problem = f"not a weights file that torch.load(weights_only=True) reads ({type(error).__name__})"
        raise InputError(path, problem) from None
    if not isinstance(state, dict):
        raise InputError(path, f"not a state dict (a {type(state).__name__})")
    prefix = "features."
    try:
        result = features.load_state_dict(
            {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)},
            strict=False,
            assign=True,
        )
    except RuntimeError as error:  # a shape mismatch; the message's last line names the tensor
        mismatch = str(error).splitlines()[-1].strip()
        raise InputError(path, f"not a torchvision VGG19 state dict: {mismatch}") from None
    if result.missing_keys:
        raise InputError(path, f"not a torchvision VGG19 state dict: no features.{result.missing_keys[0]}")
    for layer in features:
        if isinstance(layer, nn.ReLU):
            layer.inplace = False  # a tapped conv output must not be overwritten
    return features


class PerceptualLoss(nn.Module):
    """Weighted L1 distance between VGG19 features of two images, pix2pixHD's ``VGGLoss``.

    ``forward(pred, target)``: images (B, 3, H, W) or (B, T, 3, H, W) in [-1, 1], ImageNet-
    normalised inside; target features are not differentiated. ``layers`` are Caffe-style names
    (``relu1_1`` ... ``relu5_4``, ``conv*``, ``pool*``) with one weight each. The network is
    frozen and stays in eval mode. ``weights``: the file, or a folder holding
    ``vgg19-dcbb9e9d.pth``; by default torch's checkpoints folder. Raises
    :class:`~vidgan.errors.MissingWeightsError` (saying where to put it) if the file is absent.
    """

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        layer_weights: Sequence[float] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0),
    ):
        super().__init__()
        if len(layers) != len(layer_weights) or not layers:
            raise ValueError(f"need one weight per layer: {len(layers)} layers, {len(layer_weights)} weights")
        features = _load_features(find_weights(VGG19_FILE, weights, what=_WHAT))
        names = _layer_names(features)
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; choose from {names}")
        self.taps = [names.index(name) for name in layers]
        self.layer_weights = [float(w) for w in layer_weights]
        self.vgg = features[: max(self.taps) + 1].requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def available(weights: str | os.PathLike[str] | None = None) -> bool:
        """Whether the VGG19 weights file is on disk (where the constructor would look)."""
        try:
            find_weights(VGG19_FILE, weights, what=_WHAT)
        except MissingWeightsError:
            return False
        return True

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Switching the owner to train mode leaves VGG19 in eval mode."""
        super().train(mode)
        self.vgg.eval()
        return self

    def _features(self, images: Tensor) -> list[Tensor]:
        x = images.reshape(-1, *images.shape[-3:])
        x = ((x + 1) / 2 - self.mean) / self.std
        outputs = {}
        for index, layer in enumerate(self.vgg):
            x = layer(x)
            if index in self.taps:
                outputs[index] = x
        return [outputs[index] for index in self.taps]

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """``pred``, ``target`` (B, [T,] 3, H, W) in [-1, 1] → scalar float32 loss."""
        pred_features = self._features(pred)
        with torch.no_grad():
            target_features = self._features(target)
        losses = [
            weight * F.l1_loss(p.float(), t.float())
            for weight, p, t in zip(self.layer_weights, pred_features, target_features, strict=True)
        ]
        return torch.stack(losses).sum()
