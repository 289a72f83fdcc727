"""Convolutional GRU (DVD-GAN's generator, vid2vid-style temporal models)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidgan.nn.blocks import conv


class ConvGRUCell(nn.Module):
    """One GRU step whose gates are convolutions: input (B, C, H, W) and hidden state
    (B, hidden_channels, H, W) → new hidden state (B, hidden_channels, H, W).

    ``r, z = sigmoid(conv([x, h]))``, ``n = tanh(conv([x, r * h]))``, ``h' = (1 - z) * h + z * n``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, spectral: bool = False):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = conv(in_channels + hidden_channels, 2 * hidden_channels, kernel_size, spectral=spectral)
        self.candidate = conv(in_channels + hidden_channels, hidden_channels, kernel_size, spectral=spectral)

    def forward(self, x: Tensor, hidden: Tensor | None = None) -> Tensor:
        """``x`` (B, C, H, W) and ``hidden`` (B, hidden_channels, H, W), None for zeros →
        the next hidden state (B, hidden_channels, H, W)."""
        if hidden is None:
            hidden = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])
        reset, update = torch.sigmoid(self.gates(torch.cat([x, hidden], dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * hidden], dim=1)))
        return hidden + update * (candidate - hidden)


class ConvGRU(nn.Module):
    """A :class:`ConvGRUCell` unrolled over time: (B, T, C, H, W) → hidden states
    (B, T, hidden_channels, H, W), one per step. Note the (B, T, C, H, W) layout, not Conv3d's."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, spectral: bool = False):
        super().__init__()
        self.cell = ConvGRUCell(in_channels, hidden_channels, kernel_size, spectral)

    def forward(self, x: Tensor, hidden: Tensor | None = None) -> Tensor:
        """``x`` (B, T, C, H, W), ``hidden`` the initial state (B, hidden_channels, H, W) or None
        for zeros → (B, T, hidden_channels, H, W); the last step is the final state."""
        states = []
        for step in x.unbind(1):
            hidden = self.cell(step, hidden)
            states.append(hidden)
        return torch.stack(states, dim=1)
