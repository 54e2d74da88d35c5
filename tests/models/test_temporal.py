"""The temporal term of training (models/motion.py): synthetic camera motion, and a loss that is
zero for a painter whose marks move with the picture and not for one that paints on a grid."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from models import losses
from models.motion import MotionRange, next_frame, random_motion
from models.train import Trainer
from tests.models.test_train import tiny_config

STILL = MotionRange(shift=0.0, rotate=0.0, zoom=0.0, noise=0.0)


def _pictures(n: int = 2, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(3))


def test_no_motion_leaves_the_picture_as_it_is() -> None:
    x = _pictures()
    motion = random_motion(2, 32, 32, torch.Generator().manual_seed(0), STILL)
    assert torch.allclose(motion.apply(x), x, atol=1e-5)
    assert bool(motion.inside.all())


def test_a_shift_moves_the_picture_and_the_pixels_from_outside_are_not_counted() -> None:
    x = _pictures(1)
    limits = MotionRange(shift=3.0, rotate=0.0, zoom=0.0, noise=0.0)
    rng = torch.Generator().manual_seed(5)
    # The drawn offsets, read back from the grid's first pixel (a pixel is 2 / side in grid
    # units, and with no rotation or zoom every pixel is offset alike).
    motion = random_motion(1, 32, 32, rng, limits)
    dx = float(motion.grid[0, 0, 0, 0] - (-1 + 1 / 32)) * 16
    dy = float(motion.grid[0, 0, 0, 1] - (-1 + 1 / 32)) * 16
    assert 0 < max(abs(dx), abs(dy)) <= 3.0
    # Output pixel (i, j) reads the input at (i + dy, j + dx): the picture moved by (-dx, -dy)...
    moved = motion.apply(x)
    i, j = 16, 16
    want = F.grid_sample(
        x,
        torch.tensor([[[[(j + dx + 0.5) / 16 - 1, (i + dy + 0.5) / 16 - 1]]]]),
        align_corners=False,
    )
    assert torch.allclose(moved[0, :, i, j], want[0, :, 0, 0], atol=1e-5)
    # ...and the pixels read from outside the frame are not counted.
    outside = int((motion.inside == 0).sum())
    assert outside >= 32 * (int(abs(dx)) + int(abs(dy))) - 32


def test_the_loss_is_zero_for_marks_that_move_with_the_picture_and_not_for_a_grid() -> None:
    x = _pictures()
    rng = torch.Generator().manual_seed(1)
    limits = MotionRange(shift=3.0, rotate=0.0, zoom=0.0, noise=0.0)
    motion = random_motion(2, 32, 32, rng, limits)
    moved = next_frame(x, motion, rng, limits)

    def follows(y: torch.Tensor) -> torch.Tensor:  # a per-pixel colour mix: moves with it
        return 0.25 + 0.5 * y[:, [2, 0, 1]]

    def on_a_grid(y: torch.Tensor) -> torch.Tensor:  # 4x4 blocks anchored to the frame
        return F.interpolate(F.avg_pool2d(y, 4), scale_factor=4, mode="nearest")

    steady = losses.temporal_loss(follows(moved), motion.apply(follows(x)), motion.inside)
    grid = losses.temporal_loss(on_a_grid(moved), motion.apply(on_a_grid(x)), motion.inside)
    assert float(steady) < 1e-6
    assert float(grid) > 1e-3


def test_a_training_step_with_the_temporal_term_records_it_and_trains_differently(
    image_dirs: tuple[Path, Path],
) -> None:
    content, style = image_dirs
    plain = Trainer(tiny_config(), content, style)
    temporal = Trainer(tiny_config(w_temporal=100.0), content, style)
    without, with_term = plain.step(), temporal.step()
    assert without["temporal"] == 0.0
    assert 0.0 < with_term["temporal"] < float("inf")
    assert with_term["g"] > without["g"]
    assert not torch.equal(plain.G.to_rgb[1].weight, temporal.G.to_rgb[1].weight)
