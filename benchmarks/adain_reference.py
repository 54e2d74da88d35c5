"""Huang and Belongie's AdaIN network (VGG19 to relu4_1 and its mirrored decoder), the reference
benchmarks/stylize.py times the GAN against ("adain reference" row; random weights: its speed
does not depend on them)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.encoders import VGG19  # noqa: E402
from models.networks import adain  # noqa: E402


def adain_decoder() -> nn.Sequential:
    """The AdaIN paper's decoder: VGG19 to relu4_1, mirrored, nearest upsampling."""

    def conv(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
        return [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)] + ([nn.ReLU()] if relu else [])

    up = nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Sequential(
        *conv(512, 256),
        up,
        *conv(256, 256),
        *conv(256, 256),
        *conv(256, 256),
        *conv(256, 128),
        up,
        *conv(128, 128),
        *conv(128, 64),
        up,
        *conv(64, 64),
        *conv(64, 3, relu=False),
    )


class AdaINReference(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = VGG19().eval()
        self.decoder = adain_decoder().eval()

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        c = self.encoder(content, ("relu4_1",))["relu4_1"]
        s = self.encoder(style, ("relu4_1",))["relu4_1"]
        mean, std = s.mean((2, 3), keepdim=True), s.std((2, 3), keepdim=True)
        return self.decoder(adain(c, mean, std))
