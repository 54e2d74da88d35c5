"""The scores of a stylized result, one pair at a time, and KID over a set of results.

Per (photo, painting) pair:
- content score: mean-variance-normalised encoder feature distance to the photo (lower keeps
  more of the content);
- style score: distance of the encoder feature means and stds to the style's (lower carries
  more of the style);
- colour distance: sliced Wasserstein-1 distance between the result's and the painting's pixel
  distributions in CIE Lab, in Lab units (lower is closer to the painting's palette);
- content SSIM: structural similarity (Wang et al. 2004) of the result's luminance to the
  photo's, both at 256 px on the short side (1 = the photo's structure intact).
Over all pairs:
- KID between stylized images and the style images (torchmetrics), with the frozen encoder's
  pooled features in place of Inception's: it works offline and needs no extra weights.

They live apart from the runs that produce the results (models/evaluation.py): the video
quality check and the benchmarks score results of their own with the same definitions, and a
metric reads more plainly without the tables and contact sheets around it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

from models.color import rgb_to_lab
from models.encoders import EfficientNetLite0, Encoder
from models.images import to_tensor
from models.losses import content_loss, mean_std, sliced_wasserstein, style_loss

SSIM_SHORT_SIDE = 256
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
# The colour distance's random directions and pixels come from a generator seeded with
# COLOR_SEED + the pair's number: every method gets the same draws on a pair, and the draws'
# errors average out over the pairs instead of repeating on all of them. Measured on 40 val
# photo/painting pairs, the mean moved by 0.08 Lab units between seeds with 64 directions x
# 8,192 pixels (about 0.03 over 300 pairs); one seed shared by every pair moved it by 0.2 to 0.3.
COLOR_SEED, COLOR_PROJECTIONS, COLOR_SAMPLES = 0, 64, 8192


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) luma Y (ITU-R BT.601, the Y of YCbCr)."""
    return (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def resize_short_side(x: torch.Tensor, side: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w) with min(h, w) = side (antialiased bicubic)."""
    h, w = x.shape[-2:]
    scale = side / min(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bicubic", antialias=True).clamp(0, 1)


def _gaussian_window(device: torch.device) -> torch.Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float().view(1, 1, SSIM_WINDOW, SSIM_WINDOW).to(device)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two (N, 1, H, W) images in [0, 1] -> (N,).

    Wang et al. 2004, as their reference code: an 11x11 Gaussian window (sigma 1.5) over the
    valid region (no padding), C1 = (0.01)^2, C2 = (0.03)^2 for data in [0, 1].
    """
    # SSIM = (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))
    if a.shape != b.shape or a.shape[1] != 1:
        raise ValueError(
            f"ssim needs two (N, 1, H, W) images of one size, got {a.shape}, {b.shape}"
        )
    window = _gaussian_window(a.device)
    a, b = a.float(), b.float()

    def local_mean(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window)

    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a**2
    var_b = local_mean(b * b) - mu_b**2
    cov = local_mean(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return s.flatten(1).mean(dim=1)


def content_ssim(result: torch.Tensor, photo: torch.Tensor) -> float:
    """SSIM of the luminance of a (1, 3, H, W) result and its photo, both resized to 256 px on
    the short side."""
    if result.shape != photo.shape:
        raise ValueError(f"result {tuple(result.shape)} and photo {tuple(photo.shape)} differ")
    y_result = resize_short_side(luminance(result), SSIM_SHORT_SIDE)
    y_photo = resize_short_side(luminance(photo), SSIM_SHORT_SIDE)
    return float(ssim(y_result, y_photo)[0])


def color_distance(result: torch.Tensor, painting: torch.Tensor, seed: int = COLOR_SEED) -> float:
    """SW_1(Lab(result), Lab(painting)) in Lab units, for (1, 3, H, W) images of any sizes; the
    same for the same images and seed."""
    generator = torch.Generator().manual_seed(seed)
    distance = sliced_wasserstein(
        rgb_to_lab(result.cpu()),
        rgb_to_lab(painting.cpu()),
        projections=COLOR_PROJECTIONS,
        samples=COLOR_SAMPLES,
        generator=generator,
    )
    return float(distance[0])


class PooledFeatures(nn.Module):
    """(N, 3, H, W) in [0, 1] -> (N, d) global features for KID: Lite0's 1280-d pooled head
    (Inception's pool3 counterpart); for other encoders, the means and stds of the style taps."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().to(_device(self.encoder))
        if isinstance(self.encoder, EfficientNetLite0):
            return self.encoder.pooled(x)
        feats = self.encoder(x, self.encoder.style_taps)
        parts = [torch.cat(mean_std(f), dim=1).flatten(1) for f in feats.values()]
        return torch.cat(parts, dim=1)


def _device(encoder: Encoder) -> torch.device:
    return next(encoder.parameters()).device


class _Targets:
    """The encoder's view of the photos and paintings, computed once and shared by every method."""

    def __init__(
        self, encoder: Encoder, photos: Sequence[Image.Image], paintings: Sequence[Image.Image]
    ) -> None:
        self.encoder = encoder
        self.photos = photos
        self.paintings = paintings
        self._content: dict[int, dict[str, torch.Tensor]] = {}
        self._style: dict[int, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = {}

    def _features(self, image: Image.Image, taps: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return self.encoder(to_tensor(image).to(_device(self.encoder)), taps)

    @torch.no_grad()
    def pair_scores(self, ci: int, si: int, result: Image.Image, seed: int) -> tuple[float, ...]:
        """(content, style, colour distance, content SSIM) of one result; `seed`: the colour
        distance's."""
        enc = self.encoder
        if ci not in self._content:
            self._content[ci] = self._features(self.photos[ci], enc.content_taps)
        if si not in self._style:
            feats = self._features(self.paintings[si], enc.style_taps)
            stats = {t: mean_std(f) for t, f in feats.items()}
            self._style[si] = (
                {t: m for t, (m, _) in stats.items()},
                {t: s for t, (_, s) in stats.items()},
            )
        means, stds = self._style[si]
        out = self._features(result, tuple(dict.fromkeys(enc.style_taps + enc.content_taps)))
        x, photo = to_tensor(result), to_tensor(self.photos[ci])
        return (
            float(content_loss(out, self._content[ci], enc.content_taps)),
            float(style_loss(out, means, stds, enc.style_taps)),
            color_distance(x, to_tensor(self.paintings[si]), seed),
            content_ssim(x, photo),
        )


@torch.no_grad()
def _kid(encoder: Encoder, real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
    with warnings.catch_warnings():  # "will save all extracted features": a few MB here
        warnings.filterwarnings("ignore", message=".*save all extracted features")
        kid = KernelInceptionDistance(
            feature=PooledFeatures(encoder), subsets=50, subset_size=min(len(real), len(fake))
        )
    for images, is_real in ((real, True), (fake, False)):
        for batch in images.split(32):
            kid.update(batch, real=is_real)
    # The subsets are drawn from the global generator: seed it here, and leave the caller's alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mean, std = kid.compute()
    return float(mean), float(std)
