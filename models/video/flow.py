"""Optical flow between source frames, and which pixels it tracks.

A flow is an (H, W, 2) float32 array of pixel offsets in OpenCV's convention: `flow[y, x]` is
where pixel (x, y) of the first image went in the second. `warp(image, flow)` reads `image` at
(x + flow_x, y + flow_y), so warping the previous frame by the *backward* flow (current ->
previous) lays it over the current frame.

A pixel is tracked when the forward and backward flows agree (Ruder et al. 2016, "Artistic
style transfer for videos", their disocclusion test):
    |b + f(x + b)|^2 <= 0.01 (|b|^2 + |f(x + b)|^2) + 0.5
where b is the backward flow at x and f the forward flow read where b points. Pixels that just
came into view, or that the flow got wrong, fail it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

# DIS (Kroeger et al. 2016) presets by name: `fast` is about 3x cheaper than `medium` and
# tracks worse (docs/video_log.md measures both as the stabiliser's flow).
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def gray(rgb: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, w) uint8 luma, area-resized to `size` = (w, h) if given."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if size is None or (luma.shape[1], luma.shape[0]) == size:
        return luma
    return cv2.resize(luma, size, interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=4)
def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel's (x, y); a clip has one or two frame sizes, so each is made once."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`image` (H, W[, C]) read at each pixel + `flow` (H, W, 2); edges repeat outwards."""
    xs, ys = pixel_grid(*flow.shape[:2])
    map_x, map_y = xs + flow[..., 0], ys + flow[..., 1]
    if image.dtype == np.uint8:
        # Fixed-point maps (1/32 px): remap reads 8-bit pictures with them about 2x faster.
        map_x, map_y = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A flow at another resolution, `size` = (w, h): offsets scale with the image."""
    h, w = flow.shape[:2]
    if (w, h) == size:
        return flow
    out = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= size[0] / w
    out[..., 1] *= size[1] / h
    return out


def tracked(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of the current frame whose backward flow the forward flow confirms."""
    forward_there = warp(forward, backward)
    loop = backward + forward_there
    error = (loop**2).sum(axis=-1)
    bound = 0.01 * ((backward**2).sum(axis=-1) + (forward_there**2).sum(axis=-1)) + 0.5
    return error <= bound


@dataclass(frozen=True)
class Motion:
    """How the current frame relates to the previous one, at the flow's working size."""

    backward: np.ndarray  # (h, w, 2) current -> previous
    tracked: np.ndarray  # (h, w) bool
    # (h, w) float32: mean absolute difference of the current luma and the previous one carried
    # by the flow, in [0, 1]; large where the light changed or the flow is wrong.
    mismatch: np.ndarray


class FlowEstimator:
    """DIS optical flow both ways between consecutive frames, with the tracking test.

    Works on luma at `scale` times the frame's size (a half-size flow costs a quarter and, on
    the clips in docs/video_log.md, stabilises about as well); each call keeps the frame for the
    next one, so a stream of frames costs one resize and two flows per frame.
    """

    def __init__(self, preset: str = "medium", scale: float = 0.5) -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"flow preset must be one of {', '.join(DIS_PRESETS)}, got {preset!r}")
        if not 0 < scale <= 1:
            raise ValueError(f"flow scale must be in (0, 1], got {scale}")
        self.preset = preset
        self.scale = scale
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])  # type: ignore[attr-defined]

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        return max(16, round(width * self.scale)), max(16, round(height * self.scale))

    def luma(self, rgb: np.ndarray) -> np.ndarray:
        """The frame as the estimator compares it: luma at the working size."""
        return gray(rgb, self.working_size(rgb.shape[1], rgb.shape[0]))

    def motion(self, previous: np.ndarray, current: np.ndarray) -> Motion:
        """Two lumas from `luma` (previous, current) -> their Motion."""
        backward = self._dis.calc(current, previous, None)
        forward = self._dis.calc(previous, current, None)
        carried = warp(previous.astype(np.float32), backward)
        mismatch = np.abs(current.astype(np.float32) - carried) / 255.0
        return Motion(backward, tracked(backward, forward), mismatch)
