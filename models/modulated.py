"""The second generator, "modulated": the style steers the decoder's convolutions.

Code (paper): ``ModulatedGenerator`` (G), ``mapping`` (StyleGAN's mapping network, fed the
style's feature statistics instead of noise, like MicroAST's style signal), ``modulated_conv``
(StyleGAN2's modulation and demodulation, Karras et al. 2020, eqs. 1-3, plus a per-channel shift:
MicroAST's dual modulation, Wang et al. 2023, scales and shifts).

    z = M([mu_l(s), log sigma_l(s)] for each fused tap l)                  the style code
    G(c, s) = Dec_z(AdaIN(F(c), s)), where each decoder convolution at strides 16 to 2 computes
        y = d * (W (*) (m * x)) + b + beta,      m = 1 + A z,   beta = B z
        d_o = (1 + sum_i (m_i^2 - 1) n_oi / (sum_i n_oi + eps))^(-1/2),   n_oi = sum_k W_oik^2

The first generator gives the decoder the painting only through AdaIN's per-channel statistics
of the fused features; how it draws (strokes, edges, flat fields) is the same for every painting.
Here the style code also reweights each convolution's input channels (m) and shifts its outputs
(beta), so each painting gets its own filters at every scale where marks take shape. The 1x1
entry projections get the shift only: AdaIN has already scaled their input channels by the
painting's. The full-resolution refinement (two 3x3 convolutions and the RGB projection, a
receptive field of 7 px) stays the first generator's: it renders what the modulated stages put
in its input, and modulating it cost 13-30% more time on the graph backends, where per-style
weights at full resolution lose their pre-packed kernels (docs/generator2_log.md).

d is StyleGAN2's demodulation taken relative to the unmodulated weights: exactly 1 when m = 1,
and it keeps each output's expected scale whatever m reweights. A and B start at zero, so a new
ModulatedGenerator, or one promoted from a first-architecture model (`promote`), computes what
the first generator computes; training then learns how each style bends the decoder.

The code is read from the statistics a saved style already stores (`StyleStats` of the fused
taps): a saved style still needs no encoder pass, and blends and strength interpolate the
statistics the code is read from (strength 0: the content's own, the reconstruction).

In torch, the first convolution after the last 2x upsampling reads the stride-2 map through a
stride-2 transposed convolution instead of a 3x3 kernel over its nearest-neighbour copy
(`conv_of_upsampled`): the same function in 16/36 of the multiply-adds, which pays for the
style code and leaves this generator lighter and faster than the first.
"""

from __future__ import annotations

import dataclasses
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from models.encoders import Tap
from models.losses import mean_std
from models.networks import ConvBlock, Generator, GeneratorConfig, StyleStats

EPS = 1e-8
# Parameter prefixes of the layers this architecture adds to the first one's.
NEW_LAYERS = ("mapping.", "scale.", "shift.")


def zero_linear(c_in: int, c_out: int) -> nn.Linear:
    """A linear layer that starts at zero: the modulation it feeds starts as the identity."""
    layer = nn.Linear(c_in, c_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _transposed_taps(k: torch.Tensor, dim: int) -> torch.Tensor:
    """A 3x3 kernel's taps (k0, k1, k2) along `dim` -> the 4 taps (k2, k1 + k2, k0 + k1, k0) of
    the stride-2 transposed convolution that convolves a nearest 2x upsampling with it."""
    k0, k1, k2 = k.unbind(dim)
    return torch.stack([k2, k1 + k2, k0 + k1, k0], dim)


def conv_of_upsampled(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """conv3x3(reflect_pad(nearest_2x(x))): (N, I, H, W) -> (N, O, 2H, 2W).

    Output row 2i reads upsampled rows 2i-1, 2i, 2i+1, which are input rows i-1, i, i; row
    2i+1 reads i, i, i+1 (columns alike). So each output pixel is a 2x2 window of the input with
    the kernel's taps summed in pairs: a stride-2 transposed convolution with a 4x4 kernel, 16
    multiply-adds per input pixel and output channel where the upsampled map costs 36, and no
    full-resolution copy; the reflection padding of the upsampled map is a replicate padding of
    the input (its border rows come in pairs). The same function as the upsampled convolution,
    so none of the checkerboards a learned transposed convolution makes; in torch 2-3.6x faster
    (16 channels at 512 px). An exported graph keeps the upsampled convolution: with ONNX
    Runtime's ConvTranspose (40 ms for this layer) the graph ran 6% slower.
    """
    if torch.onnx.is_in_onnx_export():
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.conv2d(F.pad(up, [1, 1, 1, 1], mode="reflect"), weight, bias)
    kernel = _transposed_taps(_transposed_taps(weight, 2), 3).transpose(0, 1)  # (I, O, 4, 4)
    # Input row i lands on output rows 2i - 3 ... 2i: padding=3 crops the border's overhang.
    x = F.pad(x, [1, 1, 1, 1], mode="replicate")
    return F.conv_transpose2d(x, kernel, bias, stride=2, padding=3)


def modulated_conv(
    x: torch.Tensor, conv: nn.Conv2d, m: torch.Tensor, d: torch.Tensor, beta: torch.Tensor
) -> torch.Tensor:
    """y = d * (W (*) (m * x)) + b + beta over reflection-padded x, for a 3x3 `conv`.
    m: (N, I) input scales; d, beta: (N, O)."""
    base = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)
    bias = base + beta.to(base.dtype)  # (N, O)
    x = F.pad(x, [1, 1, 1, 1], mode="reflect")
    if x.shape[0] == 1:
        # One image (inference): fold the modulation into the weights, no extra pass over the
        # activations (an exported graph is traced this way, with batch 1).
        w = conv.weight * m[0, None, :, None, None] * d[0, :, None, None, None]
        return F.conv2d(x, w, bias[0])
    y = F.conv2d(x * m[:, :, None, None].to(x.dtype), conv.weight)
    return y * d[:, :, None, None].to(y.dtype) + bias[:, :, None, None].to(y.dtype)


class ModulatedGenerator(Generator):
    """The first generator's layers (same names: its weights load as they are) plus the style
    code's mapping and the zero-initialised layers that read the modulated convolutions' scales
    (`scale`) and shifts (`shift`) from the code, one layer for all: an exported graph then
    computes the modulations in a few nodes, not a few per convolution (which cost more than
    the arithmetic on a graph backend)."""

    def __init__(self, config: GeneratorConfig, taps: dict[str, Tap]) -> None:
        super().__init__(config, taps)
        stats_dim = 2 * sum(t.channels for t in self.taps)  # mean and log std of each fused tap
        code = config.code_dim
        self.mapping = nn.Sequential(
            nn.Linear(stats_dim, code), nn.LeakyReLU(0.2), nn.Linear(code, code), nn.LeakyReLU(0.2)
        )
        if config.merge == "sum":
            # Each finer stride: the coarser map projected to its width (models/slimming.py),
            # and its first convolution width -> width.
            widths = config.widths
            self.merge = nn.ModuleList(
                nn.Conv2d(a, b, 1) for a, b in zip(widths[:-1], widths[1:], strict=True)
            )
            for body, width in zip(list(self.body)[1:], widths[1:], strict=True):
                cast(nn.Sequential, body)[0] = ConvBlock(width, width)
        convs = self._convs()
        self.scale_sizes = [c.in_channels for c in convs]
        # Shifts: one per entry projection's output, then one per convolution's.
        entries = [cast(nn.Conv2d, e) for e in self.entry]
        self.shift_sizes = [e.out_channels for e in entries] + [c.out_channels for c in convs]
        self.scale = zero_linear(code, sum(self.scale_sizes))
        self.shift = zero_linear(code, sum(self.shift_sizes))
        if config.head == "subpixel":
            from models.subpixel import SubpixelRGB

            if self.last_stride != 2:
                raise ValueError("the sub-pixel head paints a stride-2 map")
            self.refine = nn.Identity()
            self.to_rgb = SubpixelRGB(config.widths[-1], config.subpixel_width)

    def _convs(self) -> list[nn.Conv2d]:
        """The modulated 3x3 convolutions (strides 16 to 2), in the order decoding runs them."""
        blocks = [block for body in self.body for block in cast(nn.Sequential, body)]
        return [cast(nn.Conv2d, cast(nn.Sequential, block)[1]) for block in blocks]

    def demodulation_matrix(self) -> torch.Tensor:
        """(sum I, sum O) block-diagonal: block l is n_l^T / (sum_i n_l + eps), n_l = W_l^2
        summed over the kernel, so that (m^2 - 1) @ it is every convolution's ratio in d at once.
        It depends on the weights alone: an exported graph folds it into a constant."""
        convs = self._convs()
        total = sum(c.out_channels for c in convs)
        rows, start = [], 0
        for c in convs:
            n = c.weight.float().pow(2).sum(dim=(2, 3))  # (O, I)
            block = (n / (n.sum(dim=1, keepdim=True) + EPS)).t()  # (I, O)
            rows.append(F.pad(block, [start, total - start - c.out_channels]))
            start += c.out_channels
        return torch.cat(rows)

    def modulations(self, code: torch.Tensor) -> tuple[list[torch.Tensor], ...]:
        """Per convolution m (N, I) and d (N, O); per entry, then per convolution, beta."""
        with torch.autocast(code.device.type, enabled=False):
            m = 1 + self.scale(code.float())  # (N, sum I): exactly 1 at the zero start
            ratio = (m.pow(2) - 1) @ self.demodulation_matrix()  # (N, sum O), > -1
            d = (1 + ratio).rsqrt()
            beta = self.shift(code.float())
        convs = self.shift_sizes[len(self.entry) :]
        return (
            list(m.split(self.scale_sizes, 1)),
            list(d.split(convs, 1)),
            list(beta.split(self.shift_sizes, 1)),
        )

    def style_code(
        self,
        style: StyleStats,
        strength: torch.Tensor | float,
        content_stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
    ) -> torch.Tensor:
        """(N, code_dim): z of the statistics `strength` of the way from the content's to the
        style's, so that strength 0 decodes the content with its own code."""
        parts = []
        for tap in self.taps:
            c_mean, c_std = content_stats[tap.name]
            mean = strength * style.mean[tap.name] + (1 - strength) * c_mean  # (N, C, 1, 1)
            std = strength * style.std[tap.name] + (1 - strength) * c_std
            parts += [mean.flatten(1), std.log().flatten(1)]
        return self.mapping(torch.cat(parts, dim=1).float())

    def render(
        self,
        features: dict[str, torch.Tensor],
        style: StyleStats,
        strength: torch.Tensor | float,
        content_stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Fuse and decode (the export seam, as `Generator.render`): (N, 3, H, W) in [0, 1];
        size None: the shallowest tap's size times its stride."""
        fused = self.blend(features, style, strength, content_stats)
        return self.decode_with(fused, self.style_code(style, strength, content_stats), size)

    def decode(
        self, fused: dict[str, torch.Tensor], size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        raise TypeError("the modulated decoder needs the style code: call render or forward")

    def decode_with(
        self, fused: dict[str, torch.Tensor], code: torch.Tensor, size: tuple[int, int] | None
    ) -> torch.Tensor:
        """Fused features and the style code (N, code_dim) -> image (N, 3, H, W) in [0, 1]."""
        m, d, beta = self.modulations(code)
        k = len(self.entry)
        scales, demods, shifts, entry_shifts = iter(m), iter(d), iter(beta[k:]), iter(beta[:k])
        convs = iter(self._convs())

        def conv(x: torch.Tensor) -> torch.Tensor:
            return modulated_conv(x, next(convs), next(scales), next(demods), next(shifts))

        h: torch.Tensor | None = None
        for i, (tap, entry) in enumerate(zip(self.taps, self.entry, strict=True)):
            x = entry(fused[tap.name])  # (N, width, H/stride, W/stride)
            x = x + next(entry_shifts)[:, :, None, None].to(x.dtype)
            if h is not None and self.config.merge == "sum":
                h = self.merge[i - 1](h)
                x = x + F.interpolate(h, size=x.shape[-2:], mode="nearest")
            elif h is not None:
                h = F.interpolate(h, size=x.shape[-2:], mode="nearest")
                x = torch.cat([x, h], dim=1)
            h = F.relu(conv(x), inplace=True)
            h = F.relu(conv(h), inplace=True)
        assert h is not None
        if self.config.head == "subpixel":
            return cast(torch.Tensor, self.to_rgb(h, size))
        # The full-resolution refinement, as the first generator's; its first convolution reads
        # the last stride's map directly when the output is exactly twice its size (always, for
        # a photo padded to the encoder's strides).
        first = self.refine[0] if isinstance(self.refine, nn.Sequential) else self.to_rgb
        factor = self.last_stride
        if factor == 2 and (size is None or tuple(size) == (2 * h.shape[-2], 2 * h.shape[-1])):
            h = conv_of_upsampled(h, first[1].weight, first[1].bias)  # type: ignore[index]
        else:
            h = F.interpolate(h, size=size, scale_factor=None if size else float(factor))
            h = first[1](first[0](h))  # type: ignore[index]
        if first is self.to_rgb:
            return torch.sigmoid(h)
        h = self.refine[1](F.relu(h, inplace=True))  # type: ignore[index]
        return torch.sigmoid(self.to_rgb(h))

    def forward(
        self,
        content: dict[str, torch.Tensor],
        style: StyleStats,
        size: tuple[int, int],
        strength: float = 1.0,
    ) -> torch.Tensor:
        stats = {tap.name: mean_std(content[tap.name]) for tap in self.taps}
        return self.render(content, style, strength, stats, size)


def promote(generator: Generator, code_dim: int) -> ModulatedGenerator:
    """A ModulatedGenerator holding an "adain-skip" generator's weights, its new layers at zero:
    it computes what `generator` computes, and can be trained on from there."""
    if isinstance(generator, ModulatedGenerator):
        raise ValueError("the generator is already modulated")
    config = dataclasses.replace(generator.config, architecture="modulated", code_dim=code_dim)
    promoted = ModulatedGenerator(config, {t.name: t for t in generator.taps})
    missing, unexpected = promoted.load_state_dict(generator.state_dict(), strict=False)
    if unexpected or not all(k.startswith(NEW_LAYERS) for k in missing):
        raise ValueError(f"weights do not fit the modulated layout: {unexpected or missing}")
    return promoted.to(next(generator.parameters()).device).train(generator.training)
