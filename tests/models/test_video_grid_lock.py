"""The grid lock (models/video/grid_lock.py): on a pan it follows the scene to the pixel, and the
shipped model's strokes then stay put on the scene instead of being repainted every frame; its
origin survives a resumed job's carry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.inference import GANStylizer
from models.video.grid_lock import GRID, GridLock
from models.video.pipeline import StyledFrame, VideoOptions, frame_stylizer, stylize_video
from models.video.probe import probe
from models.video.segments import Carry, DirectorySink, decode_carry, encode_carry
from tests.models.conftest import synthetic_image
from tests.models.video_clips import pan_frames, write_clip

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped" / "atelier-default.safetensors"


def _repainted(frames: list[StyledFrame], dx: int, dy: int) -> float:
    """Mean squared difference (x1000, 0..1 units) between each frame's stylization and the
    previous one's moved by the pan (dx, dy), inside a margin the pan does not reach."""
    errors = []
    for before, after in zip(frames, frames[1:], strict=False):
        a = after.stylized[8:-16, 8:-16].astype(np.float32) / 255
        b = before.stylized[8 + dy : -16 + dy, 8 + dx : -16 + dx].astype(np.float32) / 255
        errors.append(float(np.mean((a - b) ** 2)) * 1000)
    return float(np.mean(errors))


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model is not there")
def test_a_pan_is_followed_and_its_strokes_stay_on_the_scene(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "pan.mp4", pan_frames(320, 208, 12, step=2.0), fps=24)
    stylizer = GANStylizer.from_file(SHIPPED, device="cpu", backend="torch")
    stylize = frame_stylizer(stylizer, [stylizer.style_stats(synthetic_image(64, 64, seed=7))])
    runs: dict[bool, list[StyledFrame]] = {}
    for lock in (False, True):
        runs[lock] = []
        stylize_video(
            source, probe(source), stylize, DirectorySink(tmp_path / str(lock)),
            options=VideoOptions(grid_lock=lock), on_frame=runs[lock].append,
        )  # fmt: skip
    # The window moved 2 px right and 1 px down a frame: the scene's origin, to the pixel.
    origins = [frame.origin for frame in runs[True]]
    assert np.allclose(origins, [(2 * t, t) for t in range(12)], atol=0.3), origins
    assert all(frame.origin == (0.0, 0.0) for frame in runs[False])
    # Repainted about half as much (measured 3.7 against 7.0; the rest is H.264's noise, which
    # the GAN paints differently frame to frame: on exact frames of a photo it is 30 times less).
    plain, locked = _repainted(runs[False], 2, 1), _repainted(runs[True], 2, 1)
    assert locked < 0.65 * plain, (locked, plain)


def test_padding_puts_the_origin_on_the_grid_and_the_frame_comes_back_whole() -> None:
    lock = GridLock(x=37.0, y=-3.0)
    top, bottom, left, right = lock.padding(208, 320)
    assert (left, top) == (37 % GRID, -3 % GRID)
    # One padded shape for every origin (the backend compiles a graph per shape).
    assert (left + 320 + right, top + 208 + bottom) == (352, 240)
    assert GridLock(x=0, y=0).padding(208, 320)[1::2] == (240 - 208, 352 - 320)
    rgb = np.asarray(synthetic_image(320, 208, seed=1))
    seen = []
    out = lock.stylized(lambda x: seen.append(x.shape) or 255 - x, rgb)
    assert seen == [(top + 208 + bottom, left + 320 + right, 3)]
    assert np.array_equal(out, 255 - rgb)  # cropped back exactly where the frame was


def test_the_carry_keeps_the_origin() -> None:
    rgb = np.asarray(synthetic_image(40, 24, seed=2))
    back = decode_carry(encode_carry(Carry(rgb, (12.25, -7.5))))
    assert np.array_equal(back.rgb, rgb) and back.origin == (12.25, -7.5)
