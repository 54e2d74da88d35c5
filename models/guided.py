"""Edge-aware upsampling guided by the photo (the fast guided filter: He and Sun 2015).

`stroke_scale` paints at a working size and carries the result to the photo's size. A plain
resize would blur every edge by the ratio of the sizes; here the result is modelled in each
small window as a linear function of the photo (q = a * I + b, the guided filter of He et al.
2010), the coefficients are fitted at the working size and upsampled, and applied to the
full-size photo: the painting's colours and marks at their painted size, the photo's edges
where they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPSILON = 1e-3  # regularises a: a flat window of the guide takes the result's mean (b), not noise


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, the border replicated."""
    size = 2 * radius + 1
    return F.avg_pool2d(F.pad(x, (radius,) * 4, mode="replicate"), size, stride=1)


def guided_upsample(
    small_result: torch.Tensor, small_photo: torch.Tensor, photo: torch.Tensor, radius: int = 2
) -> torch.Tensor:
    """(1, 3, h, w) result and photo at the working size, (1, 3, H, W) photo -> (1, 3, H, W).

    The guide is the photo's luminance, one channel, so the result's colours are never taken
    from the photo's: only where its edges lie. At the working size it gives the result back.
    """
    if small_result.shape != small_photo.shape:
        raise ValueError("the small result and the small photo must have one size")
    weights = photo.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    guide = (small_photo * weights).sum(1, keepdim=True)  # (1, 1, h, w)
    mean_i = _box(guide, radius)
    mean_p = _box(small_result, radius)
    cov_ip = _box(guide * small_result, radius) - mean_i * mean_p
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = _box(cov_ip / (var_i + EPSILON), radius)
    b = _box(mean_p - a * mean_i, radius)
    # What the linear model does not explain is the painting's own marks (strokes smaller than
    # a window): carried up as they are, so the marks keep their painted size and contrast.
    marks = small_result - (a * guide + b)
    size = photo.shape[-2:]
    a_full = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
    b_full = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
    marks_full = F.interpolate(marks, size=size, mode="bicubic", align_corners=False)
    full_guide = (photo * weights).sum(1, keepdim=True)
    return (a_full * full_guide + b_full + marks_full).clamp(0, 1)


def resize_longer(x: torch.Tensor, side: int) -> torch.Tensor:
    """(1, 3, H, W) -> the same picture with its longer side `side` (antialiased): the photo at
    the working size."""
    h, w = x.shape[-2:]
    scale = side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(x, size=size, mode="bicubic", antialias=True).clamp(0, 1)


def carry_to_photo(
    result: torch.Tensor, small_photo: torch.Tensor, photo: torch.Tensor
) -> torch.Tensor:
    """A result painted at the working size, at the photo's size: up along the photo's edges
    (guided), or down by averaging when the photo was smaller than the working size."""
    if result.shape[-1] >= photo.shape[-1]:
        size = photo.shape[-2:]
        return F.interpolate(result, size=size, mode="bicubic", antialias=True).clamp(0, 1)
    return guided_upsample(result, small_photo, photo)
