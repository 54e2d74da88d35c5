"""Temporal stability: the previous result, carried along the source's motion, blended into the
current frame's stylization.

Stylized frame by frame, the GAN paints slightly different strokes on two nearly equal frames,
and the picture flickers. Where the flow tracks a pixel, the result is

    out = S + w (warp(prev_out, b) - S),    w = amount * tracked * exp(-(mismatch / m)^2)

with S the frame's own stylization, b the backward flow and `mismatch` the source's luma
difference after the same warp (a light change or a wrong flow lowers w; a cut sets it near 0).
Averaging two frames' strokes flattens the texture (the style score rises) more than it blurs
the picture, so the blended frame's fine detail (a Gaussian high-pass, sigma 0.7 px) is then
scaled back to the energy of S's, by one gain for the whole frame (at most 1.6) so that the
gain does not flicker itself. docs/video_log.md has every variant tried and its figures.

The broad colour and light of the carried result are carried further than its marks: the
coarse band of its difference from S (a Gaussian of sigma 1.5 px, normalised by the weight so
that untracked pixels add nothing to it) is carried at `coarse_boost` times the weight, at most
STABILITY_MAX (0.95 at the default amount). Flicker shows most in the broad colour, which the
style score hardly sees, while averaging the marks, which carry the style, flattens it. On the
sample clip (v3, starry-night) this took the product from 42% of frame by frame's warping error
at +10.8% style to 37% at +9.3% at 640x360, and from 35% at +6.3% to 29% at +8.0% at 1280x720.
The pipeline puts a job's kept regions back after this step, so its blurs never see them.

The amount that keeps both steadiness and style can depend on the frame size: the GAN paints
strokes of a fixed size in pixels, which are less alike from frame to frame on a larger frame,
so averaging them flattens more of the style. v2 without the coarse band took 0.6 at 640x360
and 0.55 at 1280x720 (v1, whose marks were fainter, 0.7 and 0.5); v3 with it takes 0.55 at
both (docs/video_log.md). `amount=None` takes AMOUNT_BY_SIZE, linear in log(pixels) between
its two points, flat outside.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from contracts.video import STABILITY_MAX
from models.video.flow import Motion, resize_flow, warp

# (pixels, amount): the measured defaults at 640x360 and 1280x720 (the shipped model v3 with
# the coarse band: the same at both; v2 without it took 0.6 and 0.55).
AMOUNT_BY_SIZE = ((640 * 360, 0.55), (1280 * 720, 0.55))


def amount_for(width: int, height: int) -> float:
    """The default amount for frames of this size (see the module's docstring)."""
    (small, at_small), (large, at_large) = AMOUNT_BY_SIZE
    position = (math.log(width * height) - math.log(small)) / (math.log(large) - math.log(small))
    return at_small + min(max(position, 0.0), 1.0) * (at_large - at_small)


@dataclass(frozen=True)
class StabilitySettings:
    # Weight of the carried previous result on tracked pixels; 0 = frame by frame; None: by
    # the frame size (amount_for).
    amount: float | None = None
    # Source luma mismatch (0..1) at which the weight falls to 1/e.
    mismatch_scale: float = 0.1
    # The coarse band (a Gaussian of this sigma, px, normalised by the weight) of the
    # difference between the carried result and the frame's own is carried this many times
    # the weight, up to STABILITY_MAX; 1 blends every band alike.
    coarse_sigma: float = 1.5
    coarse_boost: float = 1.75
    # Detail restoration: the high-pass's Gaussian sigma (px), the share of the gain that
    # restores the lost detail energy (1 = all of it), and the largest gain.
    detail_sigma: float = 0.7
    detail_restore: float = 1.0
    max_detail_gain: float = 1.6

    def __post_init__(self) -> None:
        if self.amount is not None and not 0.0 <= self.amount <= STABILITY_MAX:
            raise ValueError(f"stability must be in [0, {STABILITY_MAX}], got {self.amount}")

    def for_size(self, width: int, height: int) -> StabilitySettings:
        """These settings with the amount decided for frames of this size."""
        if self.amount is not None:
            return self
        return dataclasses.replace(self, amount=amount_for(width, height))


def blend_weight(motion: Motion, settings: StabilitySettings) -> np.ndarray:
    """(h, w) float32 in [0, amount], at the flow's working size."""
    confidence = np.exp(-((motion.mismatch / settings.mismatch_scale) ** 2))
    amount = settings.amount if settings.amount is not None else 0.0
    return (amount * motion.tracked * confidence).astype(np.float32)


def _detail_energy(rgb: np.ndarray, sigma: float) -> float:
    """Mean squared high-pass of the luma (a third of the work of all three channels)."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = luma - cv2.GaussianBlur(luma, (0, 0), sigma)
    return float(np.mean(detail * detail))


def _detail_gain(blended: np.ndarray, own: np.ndarray, settings: StabilitySettings) -> float:
    """One gain for the frame's high-pass, back towards the detail energy of the frame's own
    stylization; never below 1."""
    sigma = settings.detail_sigma
    ratio = _detail_energy(own, sigma) / max(_detail_energy(blended, sigma), 1e-6)
    full = min(max(ratio**0.5, 1.0), settings.max_detail_gain)
    return 1.0 + settings.detail_restore * (full - 1.0)


def _coarse_band(moved: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """The coarse band of the difference d, from `moved` = w d: G(w d) / G(w), the
    neighbourhood's mean of d over the pixels the weight trusts, so that an untracked pixel's
    difference (an occlusion, a cut-in) never spreads to its neighbours.

    out = S + w d + (w_coarse - w) coarse then carries the coarse band at w_coarse and the rest
    at w wherever the weight is even."""
    total = np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-3)
    spread = cv2.GaussianBlur(moved, (0, 0), sigma)
    return cv2.divide(spread, cv2.merge([total, total, total]))


def stabilize(
    stylized: np.ndarray,
    previous: np.ndarray | None,
    motion: Motion | None,
    settings: StabilitySettings,
) -> np.ndarray:
    """The frame's result: `stylized` (H, W, 3) uint8, the previous result (or None at the first
    frame, after a cut, or when stability is off) -> (H, W, 3) uint8."""
    if previous is None or motion is None or not settings.amount:
        return stylized
    height, width = stylized.shape[:2]
    weight = cv2.resize(
        blend_weight(motion, settings), (width, height), interpolation=cv2.INTER_LINEAR
    )
    backward = resize_flow(motion.backward, (width, height))
    # Lanczos: the carried frame is resampled again at every frame; bilinear blurred it
    # visibly, and bicubic (a third of the cost) lost 4 points of style score more.
    carried = warp(previous, backward, cv2.INTER_LANCZOS4)
    # OpenCV's per-pixel blend and weighted sums (SIMD, threaded), not numpy's broadcasts, in
    # floats: on 8 bits the blend's rounding, sharpened, cost a point of style score
    # (docs/video_log.md).
    own = stylized.astype(np.float32)
    blended = cv2.blendLinear(carried.astype(np.float32), own, weight, 1.0 - weight)
    amount = settings.amount
    coarse_amount = min(amount * settings.coarse_boost, STABILITY_MAX)
    if coarse_amount > amount:
        # S + w d + (w_coarse - w) coarse, w_coarse = w * coarse_amount / amount
        extra = weight * ((coarse_amount - amount) / amount)
        coarse = _coarse_band(cv2.subtract(blended, own), weight, settings.coarse_sigma)
        blended = cv2.add(blended, cv2.multiply(coarse, cv2.merge([extra, extra, extra])))
    gain = _detail_gain(blended, stylized, settings)
    base = cv2.GaussianBlur(blended, (0, 0), settings.detail_sigma) if gain > 1.0 else blended
    # base + gain * (blended - base), rounded and saturated to 8 bits
    return cv2.addWeighted(blended, gain, base, 1.0 - gain, 0.0, dtype=cv2.CV_8U)
