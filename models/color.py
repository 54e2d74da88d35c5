"""Colour spaces and palettes: CIE Lab, and a painting's palette as per-channel Lab quantiles.

Palette matching is AdaIN taken from feature channels to colour channels and from two moments
to the whole distribution: each Lab channel of the result is mapped, rank for rank, onto the
painting's quantiles (histogram matching), then blended with the result by an amount. It is
not learned; the generator decides where each colour goes, the palette only which colours
there are.
"""

from __future__ import annotations

import torch

# sRGB (linear) -> CIE XYZ, D65 white.
_RGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_WHITE = (0.95047, 1.0, 1.08883)
PALETTE_LEVELS = 256  # quantiles per Lab channel
# A painting's quantiles are read off an evenly strided sample of at most this many pixels:
# exact enough for 256 levels, and a sort of 64 K values instead of all of a large image's.
RANK_SAMPLE = 65536
RANK_BINS = 4096  # histogram bins per channel for a result's ranks (L: 0.025 units a bin)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB (N, 3, H, W) in [0, 1] -> CIE Lab (D65): L in [0, 100], a and b about [-110, 110]."""
    x = x.float().clamp(0, 1)
    linear = torch.where(x > 0.04045, ((x + 0.055) / 1.055).pow(2.4), x / 12.92)
    xyz = torch.einsum("ij,njhw->nihw", x.new_tensor(_RGB_TO_XYZ), linear)
    xyz = xyz / xyz.new_tensor(_WHITE).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-8).pow(1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (N, 3, H, W) -> sRGB in [0, 1] (colours outside the gamut are clipped)."""
    lab = lab.float()
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f > 0.206893, f.pow(3), (f - 16 / 116) / 7.787)
    xyz = xyz * xyz.new_tensor(_WHITE).view(1, 3, 1, 1)
    to_rgb = torch.linalg.inv(xyz.new_tensor(_RGB_TO_XYZ))
    linear = torch.einsum("ij,njhw->nihw", to_rgb, xyz).clamp(0, 1)
    srgb = torch.where(
        linear > 0.0031308, 1.055 * linear.clamp_min(1e-8).pow(1 / 2.4) - 0.055, 12.92 * linear
    )
    return srgb.clamp(0, 1)


def palette(x: torch.Tensor, levels: int = PALETTE_LEVELS) -> torch.Tensor:
    """(N, 3, H, W) sRGB -> (N, 3, levels): each Lab channel's quantiles, evenly spaced."""
    lab = rgb_to_lab(x).flatten(2)  # (N, 3, P)
    q = torch.linspace(0, 1, levels, device=x.device)
    return _quantiles(_sorted_sample(lab), q)


def _sorted_sample(flat: torch.Tensor) -> torch.Tensor:
    """(..., P) -> (..., S): an evenly strided sample of at most RANK_SAMPLE values, sorted."""
    step = max(1, -(-flat.shape[-1] // RANK_SAMPLE))
    return flat[..., ::step].sort(dim=-1).values


def _quantiles(sorted_values: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Linear-interpolated quantiles `q` (in [0, 1]) of each row of sorted (..., P) values."""
    pos = q * (sorted_values.shape[-1] - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=sorted_values.shape[-1] - 1)
    frac = pos - lo
    return sorted_values[..., lo] * (1 - frac) + sorted_values[..., hi] * frac


def match_palette(x: torch.Tensor, target: torch.Tensor, amount: float) -> torch.Tensor:
    """Move `amount` (0..1) of the way from x's Lab histograms to `target`'s (a `palette`).

    x: (N, 3, H, W) sRGB in [0, 1]; target: (N or 1, 3, K). Each pixel keeps its rank in each
    channel, so edges and shading stay where the generator put them.
    """
    if amount <= 0:
        return x
    lab = rgb_to_lab(x)
    flat = lab.flatten(2).contiguous()  # (N, 3, P)
    # Each pixel's rank in its channel, as a fraction in [0, 1], from a fine histogram (a sort
    # of every pixel costs more than the generator at 512 px)...
    low, high = flat.amin(-1, keepdim=True), flat.amax(-1, keepdim=True)
    bins = ((flat - low) / (high - low).clamp_min(1e-6) * (RANK_BINS - 1)).round().long()
    counts = torch.zeros(*flat.shape[:-1], RANK_BINS, device=x.device)
    counts.scatter_add_(-1, bins, torch.ones_like(flat))
    mid_rank = (counts.cumsum(-1) - counts / 2) / flat.shape[-1]  # a bin's pixels share one rank
    rank = mid_rank.gather(-1, bins)
    # ...takes the target's quantile at that fraction.
    target = target.to(x.device, torch.float32).expand(flat.shape[0], -1, -1)
    pos = rank * (target.shape[-1] - 1)
    lo = pos.floor().long().clamp(max=target.shape[-1] - 2)
    frac = pos - lo
    matched = torch.lerp(target.gather(-1, lo), target.gather(-1, lo + 1), frac)
    mixed = torch.lerp(flat, matched, amount).view_as(lab)
    return lab_to_rgb(mixed).to(x.dtype)
