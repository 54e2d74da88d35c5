"""Synthetic camera motion for the temporal term of training: what the next frame of a clip
could look like, made from one still photo.

A convolutional generator with strided layers paints its marks on a grid: shift a frame by one
pixel and the marks move by more than a pixel or change shape (docs/video_log.md: on the shipped
model v2 at 640x360, a 1 px shift of the input changes the output by 12 x1000 in mean squared
error, a 4 px shift by 0.9). In a clip, where everything moves by fractions of a pixel from
frame to frame, that is the flicker. Wang et al. 2020 ("Consistent Video Style Transfer via
Compound Regularization") train it away without video: for a photo x, a random small motion W
and a little noise n,

    L_temporal = || G(W(x) + n) - W(G(x)) ||^2    on the pixels W keeps inside the frame,

so the generator learns to paint a moved photo as its own result moved. The motion here is a
random similarity transform (shift of up to a few pixels, whole and fractional, a small
rotation and zoom): what a camera does between two frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class MotionRange:
    """How far one synthetic frame step may move: shift in pixels, rotation in degrees, zoom as
    a fraction, and the std of the added noise (in [0, 1] units: a light change, the codec)."""

    shift: float = 4.0
    rotate: float = 1.0
    zoom: float = 0.02
    noise: float = 0.01


@dataclass(frozen=True)
class Motion:
    """A batch of affine motions, as the sampling grids that apply them, and for each picture
    the pixels whose source lies inside the frame."""

    grid: torch.Tensor  # (N, H, W, 2), F.grid_sample's coordinates
    inside: torch.Tensor  # (N, 1, H, W) float 0/1

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> the same pictures moved (bilinear; edges repeat)."""
        grid = self.grid.to(images.device, images.dtype)
        return F.grid_sample(
            images, grid, mode="bilinear", padding_mode="border", align_corners=False
        )


def random_motion(
    n: int, height: int, width: int, rng: torch.Generator, limits: MotionRange = MotionRange()
) -> Motion:
    """N random motions for (H, W) pictures, drawn from `rng` (a resumed run draws the same)."""

    def uniform(bound: float) -> torch.Tensor:
        return (torch.rand(n, generator=rng) * 2 - 1) * bound

    shift_x, shift_y = uniform(limits.shift), uniform(limits.shift)
    angle = uniform(limits.rotate) * math.pi / 180
    scale = 1 + uniform(limits.zoom)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # affine_grid maps output coordinates to input ones in [-1, 1] units: a pixel is 2 / side.
    # The aspect ratio enters the rotation so that it turns the picture, not its unit square.
    aspect = height / width
    theta = torch.stack(
        [
            torch.stack([cos, -sin * aspect, -shift_x * 2 / width], dim=-1),
            torch.stack([sin / aspect, cos, -shift_y * 2 / height], dim=-1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, [n, 1, height, width], align_corners=False)
    ones = torch.ones(n, 1, height, width)
    inside = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return Motion(grid, (inside > 0.999).float())


def next_frame(
    images: torch.Tensor, motion: Motion, rng: torch.Generator, limits: MotionRange = MotionRange()
) -> torch.Tensor:
    """The photos as the next frame of a clip shows them: moved, plus a little noise."""
    noise = torch.randn(images.shape, generator=rng) * limits.noise
    return (motion.apply(images) + noise.to(images.device)).clamp(0, 1)
