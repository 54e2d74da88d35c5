"""What every stylization pipeline offers: one call, PIL images in and out.

The GAN (models.inference.GANStylizer), the optimisation method
(models.optimisation.OptimisationStylizer) and the peers (models.peers) all take a photo and
styles (images, or a GAN's saved statistics) and give a picture of the photo's size; the
service, the CLI, the evaluation and the video pipeline depend on this call alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from PIL import Image

from models.networks import StyleStats

Progress = Callable[[float], None]
StyleInput = Image.Image | StyleStats


def select_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_strength(strength: float) -> None:
    """Every pipeline's `strength` blends toward the photo; outside 0..1 it would extrapolate."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError("strength must be between 0 and 1")


class Stylizer(Protocol):
    """A pipeline: `method` names it, `untrained` says its encoder is a labelled test choice,
    `model_info` is the model file's metadata (empty without one)."""

    method: str
    untrained: bool
    model_info: dict[str, Any]

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
    ) -> Image.Image: ...
