"""SAGAN / BigGAN self-attention over the pixels of a feature map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidgan.nn.blocks import conv


class SelfAttention2d(nn.Module):
    """Self-attention on (B, C, H, W) → (B, C, H, W), as in BigGAN: 1×1 convs give queries and
    keys with C/8 channels and values with C/2; keys and values are 2×2 max-pooled; the
    attended values go through a 1×1 conv back to C channels and are added to the input scaled
    by a learnable ``gamma`` that starts at 0 (so the block is the identity at init). Logits are
    not scaled by 1/sqrt(d), as in SAGAN. ``spectral`` normalises the four convs.
    """

    def __init__(self, channels: int, spectral: bool = False):
        super().__init__()
        if channels < 8:
            raise ValueError(f"SelfAttention2d needs at least 8 channels, got {channels}")
        self.query = conv(channels, channels // 8, 1, spectral=spectral, bias=False)
        self.key = conv(channels, channels // 8, 1, spectral=spectral, bias=False)
        self.value = conv(channels, channels // 2, 1, spectral=spectral, bias=False)
        self.out = conv(channels // 2, channels, 1, spectral=spectral, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) → (B, C, H, W)."""
        b, _, h, w = x.shape
        query = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        key = F.max_pool2d(self.key(x), 2).flatten(2).transpose(1, 2)  # (B, HW/4, C/8)
        value = F.max_pool2d(self.value(x), 2).flatten(2).transpose(1, 2)  # (B, HW/4, C/2)
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)  # (B, HW, C/2)
        attended = attended.transpose(1, 2).reshape(b, -1, h, w)
        return x + self.gamma * self.out(attended)
