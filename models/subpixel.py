"""The sub-pixel head: the decoder's last map painted into RGB at twice its size, computed at
its own size (Shi et al. 2016, ESPCN: convolutions at low resolution, then a periodic shuffle).

Why: v2's decoder ends at full resolution, where a nearest 2x upsampling feeds two 3x3
convolutions of 16 channels and a 3x3 projection to RGB. Those layers are a third of the
exported graph's time at 1024 px (OpenVINO bf16, 2-core AVX-512 EPYC: the projection to 3
channels alone 16 ms, the two convolutions 12 ms each, their reflection pads 6 ms), and most
of its memory traffic: each holds a 16-channel map of the photo's size. Here two 3x3
convolutions run on the stride-2 map, the second giving each of the four pixels of a 2x2 output
block its own RGB (12 channels), and `pixel_shuffle` lays them out: 8,064 multiply-adds per
stride-2 pixel where the full-resolution stage costs 20,160, and no full-size map but the
result.

A shuffle of learned phases can draw a checkerboard; the phases start equal (ICNR, Aitken et al.
2017), so the head starts as a nearest upsampling of one RGB prediction, and a student head
learns its phases from a teacher's full-resolution output (`TrainConfig.teacher`).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from models.networks import ConvBlock, Generator, build_generator

PHASES = 4  # a 2x2 output block per input pixel


class SubpixelRGB(nn.Module):
    """(N, C, h, w) -> (N, 3, 2h, 2w) in [0, 1]."""

    def __init__(self, c_in: int, width: int) -> None:
        super().__init__()
        self.conv = ConvBlock(c_in, width)
        self.to_phases = ConvBlock(width, 3 * PHASES, relu=False)
        conv = self.to_phases[1]
        assert isinstance(conv, nn.Conv2d)
        with torch.no_grad():  # ICNR: each colour's four phases start as one kernel
            conv.weight.copy_(conv.weight[::PHASES].repeat_interleave(PHASES, dim=0))
            assert conv.bias is not None
            conv.bias.copy_(conv.bias[::PHASES].repeat_interleave(PHASES))

    def forward(self, h: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        y = F.pixel_shuffle(self.to_phases(self.conv(h)), 2)
        if size is not None and tuple(size) != tuple(y.shape[-2:]):
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return torch.sigmoid(y)


def with_subpixel_head(generator: Generator, width: int) -> Generator:
    """A copy of a "refine"-head generator with a new sub-pixel head: every other weight is the
    generator's, the head starts fresh (ICNR). The result is trained on, usually against the
    original as its teacher, so that it paints what the original paints."""
    if generator.config.head == "subpixel":
        raise ValueError("the generator already has a sub-pixel head")
    config = dataclasses.replace(
        generator.config, head="subpixel", subpixel_width=width, refine_width=0
    )
    student = build_generator(config, tuple(generator.taps))
    kept = {
        k: v for k, v in generator.state_dict().items() if not k.startswith(("refine.", "to_rgb."))
    }
    missing, unexpected = student.load_state_dict(kept, strict=False)
    if unexpected or not all(k.startswith("to_rgb.") for k in missing):
        raise ValueError(f"weights do not fit the sub-pixel layout: {unexpected or missing}")
    return student.to(next(generator.parameters()).device).train(generator.training)
