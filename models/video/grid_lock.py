"""Grid-locked stylization: each frame padded so that the scene keeps its place on the
network's stride grid while the camera pans.

The generator and its encoder are strided convolutions. Shifting a picture by a multiple of
their strides shifts what they paint by the same (away from the borders), but a shift by any
other amount changes which strokes they paint. A pan moves the scene by a few pixels a
frame, so frame-by-frame stylization repaints every stroke at every frame: flicker that the
stabiliser can only average away, at the cost of the marks (the style score).

So each frame is padded (mirrored) at its top and left by the scene's accumulated
displacement modulo the grid, and moved by the displacement's fraction of a pixel (a 9-tap
Lanczos filter), stylized, moved back and cropped: the scene then sits on the same grid point
in every frame, the frames' stylizations agree where they overlap, and each is still a whole
stylization, with nothing averaged. The padded size is the same for every frame of a clip.

A frame counts as a pan when most of its pixels are tracked and move within a pixel of the
flow's median (not a zoom, not one object moving on a still background). How far it moved is
then measured by phase correlation of the two frames' luma at full size (a centred window of
at most 640x360): the flow, estimated at half size, drifted by 0.04 px a frame on a pan, which
over a second of frames rounds the origin to the wrong pixel; phase correlation drifted by
0.08 px over 47 frames.

Measured (docs/video_log.md; v3, OpenVINO bf16): on the sample clip, whose camera drifts by
0.1-0.5 px a frame, the frames' own warping error fell from 2.80 to 2.16 at 640x360 and from
5.13 to 2.88 at 1280x720 before the stabiliser's blend; the product went from 37% of frame by
frame's warping error at +9.3% style to 32% at +6.8% (640x360) and from 29% at +8.0% to 23% at
+8.5% (1280x720), for about 18% more time at 720p. Locking to whole pixels only, the sample
clip flickered more (each rounding of the origin repainted the frame): the fraction matters.
Every picture, locked or not, is stylized with its bleed (models.tiling), so neither shows the
dark band the generator paints along the edge of its input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.tiling import PAD_MULTIPLE
from models.video.flow import Motion

# The grid, px. On exact frames of a pan (golden_gate, 640x360, 2 px right and 1 down a frame),
# frame by frame's flicker of 19.5 fell to 2.35 on a grid of 8 px, 1.19 on 16, 0.68 on 32 and
# 0.57 on 64: 32 keeps most of that for at most 31 px of padding.
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
        """(top, bottom, left, right) pixels that put the origin on the grid, the padded size
        the same for every frame of a clip (one shape, one specialised graph in the backend:
        with up to four, the peak RSS growth at 1280x720 was 775 MiB instead of 387)."""
        left, top = round(self.x) % self.grid, round(self.y) % self.grid
        right = _padded(width, self.grid) - width - left
        bottom = _padded(height, self.grid) - height - top
        return top, bottom, left, right

    def stylized(self, stylize: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray) -> np.ndarray:
        """`stylize(rgb)` of the frame padded onto the grid, cropped back to the frame."""
        height, width = rgb.shape[:2]
        top, bottom, left, right = self.padding(height, width)
        # Mirrored without repeating the edge; a frame smaller than its padding is replicated.
        mode = cv2.BORDER_REFLECT_101 if min(height, width) > self.grid else cv2.BORDER_REPLICATE
        padded = cv2.copyMakeBorder(rgb, top, bottom, left, right, mode)
        fx, fy = self.x - round(self.x), self.y - round(self.y)
        moved = max(abs(fx), abs(fy)) > 0.01  # whole pixels alone flickered more
        if moved:
            padded = _shifted(padded, fx, fy, mode)
        out = stylize(padded)
        if moved:
            out = _shifted(out, -fx, -fy, mode)
        return np.ascontiguousarray(out[top : top + height, left : left + width])


def _padded(side: int, grid: int) -> int:
    """A side padded by up to grid - 1 px, rounded up to the encoder's stride."""
    return math.ceil((side + grid - 1) / PAD_MULTIPLE) * PAD_MULTIPLE


def _shifted(rgb: np.ndarray, dx: float, dy: float, border: int) -> np.ndarray:
    """The picture moved by (dx, dy) px (|dx|, |dy| <= 0.5): a separable 9-tap Lanczos-4 filter,
    which costs a tenth of warpAffine's Lanczos on a 720p frame (42 ms there)."""
    return cv2.sepFilter2D(rgb, -1, _lanczos_taps(dx), _lanczos_taps(dy), borderType=border)


def _lanczos_taps(shift: float) -> np.ndarray:
    """Taps k[j] (j = 0..8, centred on 4) with sum_j k[j] src[p + j - 4] = src(p - shift)."""
    x = np.arange(-4, 5, dtype=np.float64) + shift
    taps = np.sinc(x) * np.sinc(x / 4) * (np.abs(x) < 4)
    return (taps / taps.sum()).astype(np.float32)
