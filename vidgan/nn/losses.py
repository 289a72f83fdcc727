"""GAN losses and regularisers. Every loss is computed in float32, also under autocast, and
returns a scalar tensor."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.nn.blocks import DiscriminatorOutput

GAN_MODES = ("hinge", "lsgan", "nonsaturating")

# A tensor, a discriminator's output, or a (nested) list of them: one per discriminator scale.
Logits = Tensor | DiscriminatorOutput | Sequence["Logits"]


def _mean_over_scales(loss: Callable[[Tensor], Tensor], logits: Logits) -> Tensor:
    if isinstance(logits, DiscriminatorOutput):
        logits = logits.logits
    if isinstance(logits, Tensor):
        return loss(logits.float())
    if not logits:
        raise ValueError("empty list of discriminator outputs")
    return torch.stack([_mean_over_scales(loss, item) for item in logits]).mean()


def _flatten(logits: Logits) -> list[Tensor]:
    if isinstance(logits, DiscriminatorOutput):
        return [logits.logits]
    return [logits] if isinstance(logits, Tensor) else [t for item in logits for t in _flatten(item)]


def _discriminator_loss(mode: str, real: bool) -> Callable[[Tensor], Tensor]:
    sign = -1 if real else 1  # pushes real logits up, fake ones down
    if mode == "hinge":
        return lambda x: F.relu(1 + sign * x).mean()
    if mode == "nonsaturating":
        return lambda x: F.softplus(sign * x).mean()
    return lambda x: ((x - float(real)) ** 2).mean()


def _generator_loss(mode: str) -> Callable[[Tensor], Tensor]:
    if mode == "hinge":
        return lambda x: -x.mean()
    return _discriminator_loss(mode, real=True)


class GANLoss(nn.Module):
    """Adversarial loss: ``mode`` is ``"hinge"``, ``"lsgan"`` (MSE to 1 / 0) or
    ``"nonsaturating"`` (softplus form of the log loss).

    ``forward(logits, real, for_discriminator)``: ``logits`` is a tensor of any shape, a
    :class:`~vidgan.nn.DiscriminatorOutput` (its features are ignored), or a (nested) list of
    them, one per discriminator scale; the loss is averaged over elements, then over scales.
    For the discriminator, ``real`` says whether the logits come from real data. For the
    generator (``for_discriminator=False``), pass the logits of generated data with
    ``real=True`` (the generator's target); the hinge generator loss is ``-mean(logits)``.
    """

    def __init__(self, mode: str = "hinge"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN loss mode {mode!r}; choose one of {GAN_MODES}")
        self.mode = mode

    def forward(self, logits: Logits, real: bool, for_discriminator: bool) -> Tensor:
        """``logits`` tensor(s) of any shape → scalar float32 loss."""
        if for_discriminator:
            return _mean_over_scales(_discriminator_loss(self.mode, real), logits)
        if not real:
            raise ValueError("the generator's loss targets real: call with real=True, for_discriminator=False")
        return _mean_over_scales(_generator_loss(self.mode), logits)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


Features = DiscriminatorOutput | Sequence[Sequence[Tensor] | DiscriminatorOutput]


def _feature_scales(features: Features) -> list[Sequence[Tensor]]:
    if isinstance(features, DiscriminatorOutput):
        features = [features]
    return [scale.features if isinstance(scale, DiscriminatorOutput) else scale for scale in features]


def feature_matching_loss(fake_features: Features, real_features: Features) -> Tensor:
    """pix2pixHD feature matching: per scale, the sum over layers of the L1 distance between the
    discriminator's features of fake and real data (real detached), averaged over scales.

    Both arguments are lists (one per scale) of lists of feature maps, or what
    :class:`~vidgan.nn.PatchDiscriminator` / :class:`~vidgan.nn.MultiScaleDiscriminator` return.
    """
    fake_features, real_features = _feature_scales(fake_features), _feature_scales(real_features)
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(
            f"need as many scales of fake as of real features, got {len(fake_features)} and {len(real_features)}"
        )
    per_scale = []
    for fake, real in zip(fake_features, real_features, strict=True):
        if len(fake) != len(real) or not fake:
            raise ValueError(f"a scale has {len(fake)} fake and {len(real)} real feature maps")
        per_scale.append(sum(F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fake, real, strict=True)))
    return torch.stack(per_scale).mean()


def r1_penalty(real_logits: Logits, real_inputs: Tensor) -> Tensor:
    """R1 regulariser: the batch mean of ``||∇_x D(x)||²`` at real data, where D(x) is the sum of
    all of a sample's logits (every patch, every scale; ``real_logits`` as for GANLoss).
    ``real_inputs`` (B, ...) must require grad before D sees them; the graph is kept
    (``create_graph=True``) so the penalty trains D. Multiply by gamma / 2 (Mescheder et al. 2018).
    """
    if not real_inputs.requires_grad:
        raise ValueError("r1_penalty: real_inputs must require grad (.requires_grad_() before the discriminator)")
    total = torch.stack([t.float().sum() for t in _flatten(real_logits)]).sum()
    (grad,) = torch.autograd.grad(total, real_inputs, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def total_variation_loss(images: Tensor) -> Tensor:
    """Anisotropic total variation of ``images`` (..., H, W), e.g. (B, C, H, W) or (B, C, T, H, W):
    mean absolute difference between vertical neighbours plus that between horizontal
    neighbours (``kornia.losses.total_variation`` with ``reduction="mean"``), averaged over
    the leading axes."""
    return kornia.losses.total_variation(images.float(), reduction="mean").mean()


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """L1 between ``pred`` and ``target`` over the elements where ``mask`` (broadcastable to
    them, e.g. (B, 1, H, W) for (B, C, H, W); values in [0, 1]) is on, normalised by the mask's
    total weight; 0 for an empty mask."""
    weight = torch.broadcast_to(mask, pred.shape).float()
    total = (torch.abs(pred.float() - target.float()) * weight).sum()
    return total / weight.sum().clamp_min(1e-8)
