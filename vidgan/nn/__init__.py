"""Shared layers and losses of every model family: spectral-norm and conditional-BN residual
blocks, U-Net, PatchGAN discriminators, self-attention, ConvGRU, flow warping, GAN losses and
the VGG19 perceptual loss. Pure PyTorch (+ kornia): CPU, CUDA, autocast and DDP alike.

Image tensors are (B, C, H, W); 3D-conv blocks (``dims=3``) take video as (B, C, T, H, W);
:class:`ConvGRU` takes (B, T, C, H, W).
"""

from vidgan.nn.attention import SelfAttention2d
from vidgan.nn.blocks import (
    ConvNormAct,
    DiscriminatorOutput,
    DiscriminatorResBlock,
    GeneratorResBlock,
    MultiScaleDiscriminator,
    PatchDiscriminator,
    UNet,
    conv,
)
from vidgan.nn.losses import (
    GANLoss,
    feature_matching_loss,
    masked_l1,
    r1_penalty,
    total_variation_loss,
)
from vidgan.nn.norm import ConditionalBatchNorm, norm_layer, spectral_norm_all
from vidgan.nn.perceptual import PerceptualLoss
from vidgan.nn.recurrent import ConvGRU, ConvGRUCell
from vidgan.nn.warp import flow_warp, resize_flow

__all__ = [
    "ConditionalBatchNorm",
    "ConvGRU",
    "ConvGRUCell",
    "ConvNormAct",
    "DiscriminatorOutput",
    "DiscriminatorResBlock",
    "GANLoss",
    "GeneratorResBlock",
    "MultiScaleDiscriminator",
    "PatchDiscriminator",
    "PerceptualLoss",
    "SelfAttention2d",
    "UNet",
    "conv",
    "feature_matching_loss",
    "flow_warp",
    "masked_l1",
    "norm_layer",
    "r1_penalty",
    "resize_flow",
    "spectral_norm_all",
    "total_variation_loss",
]
