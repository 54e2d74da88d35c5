"""How steady and how stylized a clip is: the figures temporal stability is judged by.

- warping error (issue 20): the mean squared difference between a result frame and the previous
  result frame warped by the *source's* optical flow, on the pixels that flow tracks, in [0, 1]
  RGB units x 1000. The flow is Farneback's, not the DIS flow the stabiliser uses, so the method
  is not scored by its own flow's mistakes.
- style score: `atelier evaluate`'s (models.scores): the distance of the encoder's feature
  means and stds to the painting's, at 256 px on the short side; lower carries more style.
  A blurred or frozen picture gets a worse (higher) one.
- warping error along the known motion: the same error with the camera's exact motion instead
  of an estimated flow, for clips made by moving a window across a picture
  (benchmarks/made_clips.py), where the motion is known. An estimated flow's errors on a
  picture of strokes count as flicker (on a made pan a result that cannot flicker scored 46% of
  frame by frame's error); the exact motion leaves only the flicker and the resampling.
- inner style score: the same, with a border (INNER_BORDER px at the measured size) cut off
  every version alike. Without its bleed (models.tiling) the generator paints a thin dark line
  along a picture's edges, and the encoder's zero-padded border features make that line weigh
  as much as a fifth of a frame's score (avril with la_muse, 640x400: 6.81 as painted, 8.20
  with the line gone, 9.41 and 9.32 inside): a method that changed the edges then moved the
  whole picture's score without changing the strokes. Every picture now has its bleed; both
  scores are still reported.
- content SSIM: `atelier evaluate`'s, against the source frame (1 = its structure intact).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from PIL import Image

from models.encoders import Encoder
from models.images import to_tensor
from models.losses import mean_std, style_loss
from models.scores import SSIM_SHORT_SIDE, content_ssim, resize_short_side
from models.video.flow import gray, pixel_grid, tracked, warp

# Farneback (pyramid scale, levels, window, iterations, poly_n, poly_sigma): OpenCV's sample
# values for large motion; on the sample clip the source itself scores 0.1-0.2.
FARNEBACK = (0.5, 5, 15, 3, 7, 1.5)
# Px cut off each side for the inner style score, at the measured size.
INNER_BORDER = 32

# A known camera motion from the previous frame to the current one, (a, tx, ty): the current
# frame's pixel (x, y) was at (a x + tx, a y + ty) in the previous frame (pixels of the clip's
# frames; a = 1 for a pan, the previous scale over the current for a zoom).
KnownMotion = tuple[float, float, float]


def known_flow(
    motion: KnownMotion, height: int, width: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(backward flow (H, W, 2), mask of the pixels whose previous position lies inside the
    frame, a pixel in from its edge) for frames of (height, width), `scale` times the clip's."""
    a, tx, ty = motion
    xs, ys = pixel_grid(height, width)
    px, py = a * xs + tx * scale, a * ys + ty * scale
    backward = np.stack([px - xs, py - ys], axis=-1).astype(np.float32)
    mask = (px >= 1) & (px <= width - 2) & (py >= 1) & (py <= height - 2)
    return backward, mask


def _shrink(rgb: np.ndarray, side: int | None) -> np.ndarray:
    """At most `side` px on the longer side (area-averaged; never enlarged)."""
    h, w = rgb.shape[:2]
    if side is None or max(h, w) <= side:
        return rgb
    scale = side / max(h, w)
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def source_motion(previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two source frames (H, W, 3) uint8 -> (backward flow (H, W, 2), tracked (H, W) bool)."""
    a, b = gray(previous), gray(current)
    backward = cv2.calcOpticalFlowFarneback(b, a, None, *FARNEBACK, 0)
    forward = cv2.calcOpticalFlowFarneback(a, b, None, *FARNEBACK, 0)
    return backward, tracked(backward, forward)


def warping_error(
    previous: np.ndarray, current: np.ndarray, backward: np.ndarray, mask: np.ndarray
) -> float:
    """x1000 mean squared RGB difference (in [0, 1] units) of `current` and `previous` carried by
    `backward`, over the pixels in `mask`; 0 when nothing is tracked."""
    if not mask.any():
        return 0.0
    carried = warp(previous.astype(np.float32) / 255.0, backward)
    squared = ((current.astype(np.float32) / 255.0 - carried) ** 2).mean(axis=-1)
    return 1000.0 * float(squared[mask].mean())


class StyleScore:
    """`atelier evaluate`'s style score of frames against one painting."""

    def __init__(self, encoder: Encoder, painting: Image.Image) -> None:
        self.encoder = encoder
        target = self._features(to_tensor(painting))
        self.means = {t: mean_std(f)[0] for t, f in target.items()}
        self.stds = {t: mean_std(f)[1] for t, f in target.items()}

    @torch.no_grad()
    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if min(x.shape[-2:]) > SSIM_SHORT_SIDE:
            x = resize_short_side(x, SSIM_SHORT_SIDE)
        device = next(self.encoder.parameters()).device
        return self.encoder(x.to(device), self.encoder.style_taps)

    def __call__(self, rgb: np.ndarray) -> float:
        feats = self._features(to_tensor(Image.fromarray(rgb)))
        return float(style_loss(feats, self.means, self.stds, self.encoder.style_taps))


@dataclass
class ClipScores:
    """Warping error, style score and content SSIM of several versions of one clip (e.g. frame
    by frame and stabilised), fed frame by frame; holds one previous frame of each, nothing more.

    `side`: frames are measured at most this many px on the longer side (the issue's figures
    are at 640 px); `style_every`: the style score and SSIM of every n-th frame.
    """

    style: StyleScore | None = None
    side: int | None = 640
    style_every: int = 4
    warping: dict[str, list[float]] = field(default_factory=dict)
    known_warping: dict[str, list[float]] = field(default_factory=dict)
    styles: dict[str, list[float]] = field(default_factory=dict)
    inner_styles: dict[str, list[float]] = field(default_factory=dict)
    ssims: dict[str, list[float]] = field(default_factory=dict)
    _previous: dict[str, np.ndarray] = field(default_factory=dict)
    _frames: int = 0

    def add(
        self,
        source: np.ndarray,
        versions: Mapping[str, np.ndarray],
        known: KnownMotion | None = None,
    ) -> None:
        """One frame: the source and each version of it; `known`, the camera's exact motion
        from the previous frame where the clip was made (then also scored along it)."""
        frames = {"source": source, **versions}
        shrunk = {name: _shrink(rgb, self.side) for name, rgb in frames.items()}
        if "source" in self._previous:
            backward, mask = source_motion(self._previous["source"], shrunk["source"])
            exact = None
            if known is not None:
                h, w = shrunk["source"].shape[:2]
                exact = known_flow(known, h, w, w / source.shape[1])
            for name, rgb in shrunk.items():
                error = warping_error(self._previous[name], rgb, backward, mask)
                self.warping.setdefault(name, []).append(error)
                if exact is not None:
                    error = warping_error(self._previous[name], rgb, *exact)
                    self.known_warping.setdefault(name, []).append(error)
        if self.style is not None and self._frames % self.style_every == 0:
            photo = to_tensor(Image.fromarray(shrunk["source"]))
            for name, rgb in shrunk.items():
                self.styles.setdefault(name, []).append(self.style(rgb))
                inner = np.ascontiguousarray(
                    rgb[INNER_BORDER:-INNER_BORDER, INNER_BORDER:-INNER_BORDER]
                )
                if inner.size:
                    self.inner_styles.setdefault(name, []).append(self.style(inner))
                result = to_tensor(Image.fromarray(rgb))
                self.ssims.setdefault(name, []).append(content_ssim(result, photo))
        self._previous = shrunk
        self._frames += 1

    def table(self) -> dict[str, dict[str, float]]:
        """name -> {"warping_error", "known_warping_error", "style", "inner_style", "ssim"}
        means (the second where the motion was known; the others when scored, "inner_style" on
        frames larger than twice the border)."""
        out: dict[str, dict[str, float]] = {}
        for name, errors in self.warping.items():
            row = {"warping_error": statistics.fmean(errors)}
            if name in self.known_warping:
                row["known_warping_error"] = statistics.fmean(self.known_warping[name])
            if name in self.styles:
                row["style"] = statistics.fmean(self.styles[name])
                if name in self.inner_styles:
                    row["inner_style"] = statistics.fmean(self.inner_styles[name])
                row["ssim"] = statistics.fmean(self.ssims[name])
            out[name] = row
        return out
