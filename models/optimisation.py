"""Style transfer by optimising pixels (Gatys, Ecker and Bethge 2016).

Needs no trained generator: it is what the service runs until a GAN model is active, and the
quality reference the GAN is measured against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from contracts.stylize import resolve_controls
from models.color import palette
from models.controls import blend_controls, preserve_colors
from models.encoders import Encoder
from models.images import resize_max_side, to_image, to_tensor
from models.losses import content_loss, gram, gram_style_loss, mean_std
from models.networks import StyleStats
from models.stylizer import Progress, StyleInput, check_strength


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


class OptimisationStylizer:
    """Gatys et al.: optimise the pixels; no trained generator needed."""

    method = "optimisation"

    def __init__(
        self, encoder: Encoder, device: torch.device, *, steps: int = 200, image_size: int = 512
    ) -> None:
        self.encoder = encoder.to(device)
        self.device = device
        self.steps = steps
        self.image_size = image_size
        self.untrained = encoder.untrained
        self.model_info: dict[str, Any] = {}

    @property
    def backend_info(self) -> dict[str, str]:
        """The optimisation method needs gradients: it runs on torch."""
        return {"name": "torch", "version": str(torch.__version__)}

    def __call__(
        self,
        content: Image.Image,
        styles: Sequence[StyleInput],
        *,
        weights: Sequence[float] | None = None,
        strength: float = 1.0,
        preserve_color: bool = False,
        tile_size: int | None = None,
        working_size: int | None = None,
        progress: Progress | None = None,
        color_strength: float | None = None,
        texture_strength: float | None = None,
        stroke_scale: float | None = None,
    ) -> Image.Image:
        """Stylize at `working_size` (the longer side; at most `image_size`, its default), then
        upscale to the photo's size. `strength` blends the optimised image with the photo.
        `tile_size` and `stroke_scale` are the GAN's; colour and texture split as the GAN's do,
        with the first style's palette."""
        check_strength(strength)
        controls = resolve_controls(strength, preserve_color, color_strength, texture_strength)
        if any(isinstance(s, StyleStats) for s in styles):
            raise ValueError("the optimisation method needs style images, not saved statistics")
        size = min(self.image_size, working_size or self.image_size)
        small = to_tensor(resize_max_side(content, size)).to(self.device)
        style_tensors = [to_tensor(resize_max_side(s, size)).to(self.device) for s in styles]  # type: ignore[arg-type]
        with torch.enable_grad():
            result = optimise(
                self.encoder,
                small,
                style_tensors,
                list(weights) if weights else None,
                steps=self.steps,
                progress=progress,
            )
        if controls is not None:
            result = blend_controls(small, result, palette(style_tensors[0]), *controls)
        result = strength * result + (1 - strength) * small
        full = to_tensor(content)
        if result.shape[-2:] != full.shape[-2:]:
            result = F.interpolate(result.cpu(), size=full.shape[-2:], mode="bicubic").clamp(0, 1)
        if preserve_color:
            result = preserve_colors(result.cpu(), full)
        return to_image(result)
