"""Style transfer by optimising pixels (Gatys, Ecker and Bethge 2016).

Needs no trained generator: it is what the service runs until a GAN model is active, and the
quality reference the GAN is measured against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from models.encoders import Encoder
from models.losses import content_loss, gram, gram_style_loss, mean_std

Progress = Callable[[float], None]


def style_targets(
    encoder: Encoder, styles: list[torch.Tensor], weights: list[float], size: int
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Blended Gram matrices, means and stds of the styles at the encoder's style taps."""
    total = sum(weights)
    grams: dict[str, torch.Tensor] = {}
    means: dict[str, torch.Tensor] = {}
    stds: dict[str, torch.Tensor] = {}
    for style, w in zip(styles, weights, strict=True):
        scale = size / max(style.shape[-2:])
        if scale < 1:
            style = F.interpolate(style, scale_factor=scale, mode="bilinear", antialias=True)
        feats = encoder(style, encoder.style_taps)
        for t, f in feats.items():
            m, s = mean_std(f)
            grams[t] = grams.get(t, 0) + w / total * gram(f)
            means[t] = means.get(t, 0) + w / total * m
            stds[t] = stds.get(t, 0) + w / total * s
    return grams, means, stds


def optimise(
    encoder: Encoder,
    content: torch.Tensor,
    styles: list[torch.Tensor],
    weights: list[float] | None = None,
    *,
    steps: int = 200,
    lr: float = 0.02,
    style_weight: float = 3e3,
    moment_weight: float = 3.0,
    tv_weight: float = 1.0,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Optimise x from the content (1, 3, H, W) in [0, 1] so that
    L = L_content(x, c) + w_s sum_l ||Gram_l(x) - Gram_l(s)||^2 + w_m L_moments + w_tv TV(x).

    The pixels are parametrised through a logit, so they stay in [0, 1] without clipping.
    """
    weights = list(weights or [1.0] * len(styles))
    with torch.no_grad():
        grams, means, stds = style_targets(encoder, styles, weights, max(content.shape[-2:]))
        target = encoder(content, encoder.content_taps)
    logit = torch.logit(content.clamp(0.02, 0.98)).requires_grad_(True)
    opt = torch.optim.Adam([logit], lr=lr * 5)
    taps = encoder.style_taps
    for step in range(steps):
        x = torch.sigmoid(logit)
        feats = encoder(x, tuple(dict.fromkeys(taps + encoder.content_taps)))
        loss = content_loss(feats, target, encoder.content_taps)
        loss = loss + style_weight * gram_style_loss(feats, grams, taps)
        for t in taps:
            m, s = mean_std(feats[t])
            loss = loss + moment_weight * (F.mse_loss(m, means[t]) + F.mse_loss(s, stds[t]))
        tv = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (
            x[..., :, 1:] - x[..., :, :-1]
        ).abs().mean()
        loss = loss + tv_weight * tv
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress((step + 1) / steps)
    return torch.sigmoid(logit).detach()
