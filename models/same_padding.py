"""TensorFlow's "SAME" padding for PyTorch convolutions, as the EfficientNet-Lite0 weights need.

Lite0's ImageNet weights were trained in TensorFlow, whose "SAME" padding is asymmetric at
stride 2 (the extra row and column go at the bottom and right), which no `padding=` of
`nn.Conv2d` reproduces; without it every strided convolution would read the input one pixel off
the grid the weights learned on. It is a module of its own because it is one idea, arithmetic
on sizes that the graph exports are sensitive to (docs/model/backends.md), apart from the
encoders' architectures and loading in models/encoders.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _same_total(size: int, kernel: int, stride: int) -> int:
    """TensorFlow "SAME" padding's total along one side of the input.

    A size that the stride divides, which every graph export sees (its heights and widths are
    multiples of the deepest stride), needs no arithmetic on the size: the export then has one
    symbolic size fewer to reason about at every strided convolution, and the encoder's export
    takes 9 s instead of 60 (2-core AVX-512 EPYC; docs/model/backends.md).
    """
    if size % stride == 0:
        return max(kernel - stride, 0)
    return max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow "SAME" padding, which the Lite0 weights were trained with (asymmetric at s2)."""
    ih, iw = x.shape[-2:]
    pad_h = _same_total(ih, kernel, stride)
    pad_w = _same_total(iw, kernel, stride)
    return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class SameConv2d(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        if stride == 1 and kernel % 2:
            # SAME at stride 1 is symmetric: the convolution pads as it reads, with no padded
            # copy of the (widest, expanded) activation.
            return F.conv2d(x, self.weight, self.bias, 1, kernel // 2, self.dilation, self.groups)
        x = _same_pad(x, kernel, stride)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
