"""Colour and texture set apart (issue 21): the palette and the marks as two amounts.

The decoder's output carries both the painting's marks (structure in lightness) and its
colours; palette matching (models/color.py) then moves the colours to the painting's. Four
pictures span the two controls, each a known result of its own:

    colour 0, texture 0: the photo
    colour 1, texture 0: the photo with the painting's palette (matched rank for rank)
    colour 0, texture 1: the stylized lightness with the photo's chroma (Gatys et al. 2017's
                         luminance-only transfer, in Lab), then its joint colour distribution
                         moved onto the photo's (iterative distribution transfer)
    colour 1, texture 1: the full result, its palette matched all the way to the painting's

and any (colour, texture) is their bilinear blend in CIE Lab, so that each control moves one
thing: texture only lightness structure, colour only where the palette sits.
"""

from __future__ import annotations

import torch

from models.color import lab_to_rgb, match_distribution, match_palette, palette, rgb_to_lab


def blend_controls(
    photo: torch.Tensor,
    stylized: torch.Tensor,
    painting_palette: torch.Tensor | None,
    color: float,
    texture: float,
) -> torch.Tensor:
    """(1, 3, H, W) photo and decoder output in [0, 1] -> the result at (`color`, `texture`).

    painting_palette: the style's palette (models.color.palette); colour 1 matches it fully
    (the model's own `palette_match`, often less, is the shorthands' look). None when the style
    has none: colour then moves from the photo's chroma to the stylized chroma only.
    """
    if stylized.shape != photo.shape:
        raise ValueError(f"stylized {tuple(stylized.shape)} and photo {tuple(photo.shape)} differ")

    def repaint(x: torch.Tensor) -> torch.Tensor:
        if painting_palette is None:
            return x
        return match_palette(x, painting_palette, 1.0)

    photo_lab = rgb_to_lab(photo)
    full = rgb_to_lab(repaint(stylized))  # colour 1, texture 1
    repainted_photo = rgb_to_lab(repaint(photo)) if color > 0 else photo_lab  # colour 1, texture 0
    # Colour 0, texture 1: the marks in the photo's lightness values (the stylized L mapped rank
    # for rank onto the photo's: a dark painting does not darken the photo) and chroma.
    # Lightness and chroma from two pictures make colours neither had (a dark stroke across a
    # pale sky is a dark blue): the pair's joint distribution is then moved onto the photo's.
    marks = photo_lab
    if color < 1 and texture > 0:
        marks_lightness = rgb_to_lab(match_palette(stylized, palette(photo), 1.0))[:, :1]
        paired = lab_to_rgb(torch.cat([marks_lightness, photo_lab[:, 1:]], dim=1))
        marks = rgb_to_lab(match_distribution(paired, photo))
    no_texture = torch.lerp(photo_lab, repainted_photo, color)
    textured = torch.lerp(marks, full, color)
    return lab_to_rgb(torch.lerp(no_texture, textured, texture)).to(photo.dtype)


def preserve_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer (Gatys et al. 2017): the result's Y with the photo's Cb and Cr."""

    def ycbcr(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        return y, (b - y) * 0.564, (r - y) * 0.713

    y, _, _ = ycbcr(stylized)
    _, cb, cr = ycbcr(content)
    r = y + 1.403 * cr
    b = y + 1.773 * cb
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return torch.cat([r, g, b], dim=1).clamp(0, 1)
