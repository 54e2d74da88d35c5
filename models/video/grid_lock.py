"""Grid-locked stylization: each frame padded so that the scene keeps its place on the
network's stride grid while the camera pans.

The generator and its encoder are convolutions with strides up to 32. Shifting a picture by a
multiple of 32 px shifts what they paint by the same (away from the borders), but a shift by
any other amount changes which strokes they paint. A pan moves the scene by a few pixels a
frame, so frame-by-frame stylization repaints every stroke at every frame: flicker that the
stabiliser can only average away, at the cost of the marks (the style score).

So each frame is padded (mirrored) at its top and left by the scene's accumulated
displacement modulo the grid, and at its bottom and right to the next multiple of the grid,
stylized, and cropped back: the scene then sits on the same grid point in every frame, the
frames' stylizations agree where they overlap, and each is still a whole stylization, with
nothing averaged. On a pan across a photo (golden_gate, 640x360, 2 px right and 1 px down a
frame, v3, starry-night) the frame-by-frame warping error fell from 19.5 to 0.7 (x1000; a grid
of 16 px: 1.2, 64 px: 0.6); docs/video_log.md has the clips.

A frame counts as a pan when most of its pixels are tracked and move within a pixel of the
flow's median (not a zoom, not one object moving on a still background). How far it moved is
then measured by phase correlation of the two frames' luma at full size (a centred window of
at most 640x360): the flow, estimated at half size, drifted by 0.04 px a frame on a pan, which
over a second of frames rounds the origin to the wrong pixel; phase correlation drifted by
0.08 px over 47 frames. The origin accumulates in floats and is rounded when the frame is
padded, so sub-pixel pans lock to the nearest pixel.

It is off by default (VideoOptions.grid_lock): on the pan of golden_gate through the pipeline
(H.264 at both ends) the frames' own flicker fell from 14.6 to 8.6 and the product's style cost
from +34% to +3%, but on the sample clip, which is no clean pan, the locked frames flickered
more than unaligned ones (3.83 against 2.80 at 640x360). docs/video_log.md has the figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.video.flow import Motion

# The generator's largest stride (the encoder's deepest tap): 32 px.
GRID = 32
# A frame's motion counts as a pan when at least this share of its pixels is tracked and
# moves within AGREEMENT_PX of the median.
PAN_SHARE = 0.5
AGREEMENT_PX = 1.0
# Phase correlation's window (a centred crop of the frame, at most this size) and the least
# response (0..1) it must give for its shift to be taken.
WINDOW = (640, 360)
MIN_RESPONSE = 0.2


def flow_pan(motion: Motion, size: tuple[int, int]) -> tuple[float, float] | None:
    """(dx, dy): the flow's median over the tracked pixels in pixels of a frame of `size`
    (width, height), when most pixels move with it; None when the motion is not one
    translation."""
    flow = motion.backward[motion.tracked]
    if len(flow) < PAN_SHARE * motion.tracked.size:
        return None
    scale_x = size[0] / motion.backward.shape[1]
    scale_y = size[1] / motion.backward.shape[0]
    dx, dy = np.median(flow[:, 0]) * scale_x, np.median(flow[:, 1]) * scale_y
    off = np.hypot(flow[:, 0] * scale_x - dx, flow[:, 1] * scale_y - dy)
    if np.count_nonzero(off <= AGREEMENT_PX) < PAN_SHARE * motion.tracked.size:
        return None
    return float(dx), float(dy)


def _window_luma(rgb: np.ndarray) -> np.ndarray:
    """The frame's luma (float32) in the centred phase-correlation window."""
    height, width = rgb.shape[:2]
    w, h = min(width, WINDOW[0]), min(height, WINDOW[1])
    x, y = (width - w) // 2, (height - h) // 2
    return cv2.cvtColor(rgb[y : y + h, x : x + w], cv2.COLOR_RGB2GRAY).astype(np.float32)


@dataclass
class GridLock:
    """Where the scene's origin is, relative to the first frame's (or the resumed segment's
    carried origin), in output pixels."""

    x: float = 0.0
    y: float = 0.0
    grid: int = GRID
    _luma: np.ndarray | None = field(default=None, repr=False)
    _hann: np.ndarray | None = field(default=None, repr=False)

    def follow(self, motion: Motion | None, rgb: np.ndarray) -> None:
        """Move the origin by the pan from the previous frame to `rgb` (a frame that is no pan
        leaves it)."""
        luma, previous = _window_luma(rgb), self._luma
        self._luma = luma
        if motion is None:
            return
        rough = flow_pan(motion, (rgb.shape[1], rgb.shape[0]))
        if rough is None:
            return
        shift = rough
        if previous is not None and previous.shape == luma.shape:
            if self._hann is None or self._hann.shape != luma.shape:
                self._hann = cv2.createHanningWindow(luma.shape[::-1], cv2.CV_32F)
            (dx, dy), response = cv2.phaseCorrelate(luma, previous, self._hann)
            if response >= MIN_RESPONSE and math.hypot(dx - rough[0], dy - rough[1]) <= 1.0:
                shift = (dx, dy)
        self.x += shift[0]
        self.y += shift[1]

    def padding(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) pixels that put the origin on the grid."""
        left, top = round(self.x) % self.grid, round(self.y) % self.grid
        right = -(left + width) % self.grid
        bottom = -(top + height) % self.grid
        return top, bottom, left, right

    def stylized(self, stylize: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray) -> np.ndarray:
        """`stylize(rgb)` of the frame padded onto the grid, cropped back to the frame."""
        height, width = rgb.shape[:2]
        top, bottom, left, right = self.padding(height, width)
        # Mirrored without repeating the edge; a frame smaller than its padding is replicated.
        mode = cv2.BORDER_REFLECT_101 if min(height, width) > self.grid else cv2.BORDER_REPLICATE
        padded = cv2.copyMakeBorder(rgb, top, bottom, left, right, mode)
        out = stylize(padded)
        return np.ascontiguousarray(out[top : top + height, left : left + width])
