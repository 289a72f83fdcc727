"""Identity loss from a pluggable face-embedding network loaded from local disk.

Any face-recognition model works (ArcFace, FaceNet, VGGFace2...) once exported as TorchScript
(``torch.jit.save(torch.jit.script(model) or torch.jit.trace(model, example), "id.pt")``): it
maps ``(B, 3, S, S)`` RGB in [-1, 1] to ``(B, D)`` embeddings. Images are resized to its input
size ``S`` (112 for ArcFace, 160 for FaceNet) before embedding. Nothing is downloaded: a missing
file raises :class:`~vidgan.errors.MissingWeightsError` saying where to put it.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from vidgan.errors import VidganError
from vidgan.weights import find_weights


class IdentityLoss(nn.Module):
    """``1 - cos(embed(a), embed(b))`` averaged over the batch, with a frozen embedding network.

    ``weights``: a TorchScript file (or a folder holding ``identity.pt``); ``input_size``: the
    side the network expects. Gradients flow to the images, never to the network."""

    FILENAME = "identity.pt"

    def __init__(self, weights: str | os.PathLike[str], input_size: int = 112) -> None:
        super().__init__()
        path = find_weights(self.FILENAME, weights, what="face identity (TorchScript)")
        try:
            self.network = torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as error:
            raise VidganError(f"{path}: not a TorchScript face-embedding model ({error})") from None
        for parameter in self.network.parameters():  # a loaded ScriptModule has no requires_grad_()
            parameter.requires_grad_(False)
        self.input_size = input_size

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings ``(B, D)`` of ``images (B, 3, H, W)`` in [-1, 1]."""
        if images.shape[-1] != self.input_size or images.shape[-2] != self.input_size:
            images = F.interpolate(images, size=(self.input_size, self.input_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        return F.normalize(self.network(images).flatten(1).float(), dim=1)

    def forward(self, images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """Mean cosine distance between the identities of ``images`` and ``references``."""
        with torch.no_grad():
            target = self.embed(references)
        return (1 - (self.embed(images) * target).sum(dim=1)).mean()

    def train(self, mode: bool = True) -> IdentityLoss:
        """Stays in eval mode (the embedding network's normalisation statistics are fixed)."""
        super().train(mode)
        self.network.eval()
        return self


def identity_loss_or_none(weights: str | os.PathLike[str] | None, input_size: int = 112) -> IdentityLoss | None:
    """:class:`IdentityLoss` from ``weights``, or None when no weights are given (callers fall
    back to their own objective and say so)."""
    return None if weights is None else IdentityLoss(weights, input_size)
