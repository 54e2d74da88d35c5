"""The style terms that reward marks: they see what the mean/std style loss cannot."""

from __future__ import annotations

import torch

from models.losses import local_style_loss, sliced_style_loss, style_loss


def stripes(period: int, channels: int = 8, side: int = 32) -> torch.Tensor:
    """(1, C, S, S) features of hard stripes: half the map at 1, half at 0, per channel."""
    x = torch.arange(side)
    bars = ((x[None, :] // period) % 2).float().expand(side, side)
    return bars.expand(1, channels, side, side).clone()


def test_marks_differ_where_the_mean_and_std_agree() -> None:
    painting = {"t": stripes(2)}
    # The same mean and std per channel, no marks: values drawn at random (a blur of noise).
    g = torch.Generator().manual_seed(0)
    flat = torch.rand(1, 8, 32, 32, generator=g)
    mean, std = painting["t"].mean((2, 3), keepdim=True), painting["t"].std((2, 3), keepdim=True)
    flat = (flat - flat.mean((2, 3), keepdim=True)) / flat.std((2, 3), keepdim=True) * std + mean
    noise = {"t": flat}
    means = {"t": painting["t"].mean((2, 3), keepdim=True)}
    stds = {"t": painting["t"].std((2, 3), keepdim=True, correction=0)}
    assert style_loss(noise, means, stds, ("t",)) < 1e-3  # blind to the difference
    same = sliced_style_loss(painting, painting, ("t",), torch.Generator().manual_seed(1))
    assert same < 1e-6 and local_style_loss(painting, painting, ("t",)) < 1e-6
    assert sliced_style_loss(noise, painting, ("t",), torch.Generator().manual_seed(1)) > 0.01
    # Per 4x4 patch, 2-pixel stripes are half and half everywhere (std 0.5), wide stripes are
    # flat patches (std 0): the local statistics tell the two marks apart.
    wide = {"t": stripes(16)}
    assert style_loss(wide, means, stds, ("t",)) < 1e-3
    assert local_style_loss(wide, painting, ("t",)) > 0.1


def test_the_terms_accept_maps_of_different_sizes_and_skip_maps_too_small() -> None:
    a, b = {"t": stripes(2, side=32)}, {"t": stripes(2, side=48)}
    assert sliced_style_loss(a, b, ("t",), torch.Generator().manual_seed(0)) < 1e-2
    assert local_style_loss(a, b, ("t",)) < 1e-2
    tiny = {"t": stripes(1, side=6)}
    assert local_style_loss(tiny, tiny, ("t",)) == 0
