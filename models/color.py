"""Colour spaces and palettes: CIE Lab, and a painting's palette as per-channel Lab quantiles.

Palette matching is AdaIN taken from feature channels to colour channels and from two moments
to the whole distribution: each Lab channel of the result is mapped, rank for rank, onto the
painting's quantiles (histogram matching), then blended with the result by an amount. It is
not learned; the generator decides where each colour goes, the palette only which colours
there are.

Inference matches with `match_palette`: the ranks from an evenly strided sample of the result,
every pixel then converted and mapped a band of rows at a time by OpenCV, channels last, so a
4096x2731 result needs no full-size Lab copy and its temporaries stay in the CPU's cache.
`match_palette_exact` ranks every pixel and maps it in torch (the reference the tests and
benchmarks/palette.py compare with).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from models.images import TINY_PICTURE

# sRGB (linear) -> CIE XYZ, D65 white.
_RGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_XYZ_TO_RGB = tuple(tuple(row) for row in torch.linalg.inv(torch.tensor(_RGB_TO_XYZ)).tolist())
_WHITE = (0.95047, 1.0, 1.08883)
# Where each curve leaves its linear segment: sRGB decode and encode, Lab's f and its inverse.
_SRGB_KNEE, _LINEAR_KNEE, _XYZ_KNEE, _F_KNEE = 0.04045, 0.0031308, 0.008856, 0.206893
PALETTE_LEVELS = 256  # quantiles per Lab channel
# A painting's quantiles are read off an evenly strided sample of at most this many pixels:
# exact enough for 256 levels, and a sort of 64 K values instead of all of a large image's.
RANK_SAMPLE = 65536
RANK_BINS = 4096  # histogram bins per channel for a result's ranks (L: 0.025 units a bin)
# match_palette ranks a result's channels on this many strided pixels: against every pixel's
# ranks, 0.04 of an 8-bit level on average and 0.7 at the 99.9th percentile on the sample
# photos at 1024x683 (65536 pixels: 0.15 and 2.7); results this size or smaller are exact.
MATCH_SAMPLE = 262144
# ...and converts this many pixels at a time, in three reused (rows, W, 3) float32 arrays of
# 3 MB each (`_Band`), so that a 4096x2731 result needs no full-size temporary.
MATCH_BAND = 262144
# Rounds of match_distribution: each matches the three marginals on one rotation of Lab. More
# rounds match the joint distribution closer and move each pixel's chroma further from where
# it was. Measured on the colour-0 picture (v2, the Great Wave, a synthetic photo): the colour
# distance to the photo at 0 / 1 / 2 / 3 / 8 rounds is 14.4 / 8.2 / 6.6 / 6.0 / 4.5% of the
# photo-painting distance; the per-pixel chroma change on random pictures 0.08 / 0.18 / 0.22 /
# 0.24 / 0.29 of the stylized picture's (tests/models/test_style_controls.py).
DISTRIBUTION_ITERATIONS = 2


def _pow(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """x ** exponent for x > 0, as exp(log): a third of Tensor.pow's time on this CPU."""
    return torch.log(x).mul_(exponent).exp_()


def _mix(matrix: tuple[tuple[float, ...], ...], x: torch.Tensor) -> torch.Tensor:
    """(3, 3) constant @ (N, 3, H, W) as nine scaled adds: elementwise, where einsum's matmul
    and linalg.inv enter a BLAS parallel region that waits on a busy core at every band (2 s
    for a 1024 px match on a loaded 2-core CPU, against 0.1 s)."""
    return torch.stack([sum(c * x[:, j] for j, c in enumerate(row)) for row in matrix], dim=1)  # type: ignore[misc]


def _opencv_convert(x: torch.Tensor, code: int) -> torch.Tensor:
    """(N, 3, H, W) float32 on the CPU -> cv2.cvtColor(code) of each picture, (N, 3, H, W)."""
    out = torch.empty(x.shape, dtype=torch.float32)
    for i, picture in enumerate(x.float()):
        channels_last = picture.permute(1, 2, 0).contiguous().numpy()
        out[i] = torch.from_numpy(cv2.cvtColor(channels_last, code)).permute(2, 0, 1)
    return out


def rgb_to_lab_fast(x: torch.Tensor) -> torch.Tensor:
    """`rgb_to_lab` by OpenCV, for inference (no gradient, CPU): the same formulas (sRGB, D65)
    with SIMD kernels and a tabulated sRGB curve. At 512 px 2.4 ms, against 23 ms for
    `rgb_to_lab` (2-core AVX-512 Xeon); the two agree within half a Lab unit, and a round trip
    through both fast conversions returns the picture within 1.5 of an 8-bit level (0.2 on
    average on random colours)."""
    if x.device.type != "cpu" or (x.requires_grad and torch.is_grad_enabled()):
        return rgb_to_lab(x)
    return _opencv_convert(x.clamp(0, 1), cv2.COLOR_RGB2Lab)


def lab_to_rgb_fast(lab: torch.Tensor) -> torch.Tensor:
    """`lab_to_rgb` by OpenCV, for inference: 1.3 ms at 512 px against 29 ms."""
    if lab.device.type != "cpu" or (lab.requires_grad and torch.is_grad_enabled()):
        return lab_to_rgb(lab)
    return _opencv_convert(lab, cv2.COLOR_Lab2RGB).clamp_(0, 1)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB (N, 3, H, W) in [0, 1] -> CIE Lab (D65): L in [0, 100], a and b about [-110, 110]."""
    x = x.float().clamp(0, 1)
    # Each piecewise curve as its power segment at max(x, knee) plus its linear segment below
    # the knee (the two meet there): no torch.where, no power of zero, the same values.
    # (Out of place after _pow: exp's result is kept for the gradient, which the loss needs.)
    linear = (
        _pow((x.clamp_min(_SRGB_KNEE) + 0.055) / 1.055, 2.4)
        + (x.clamp_max(_SRGB_KNEE) - _SRGB_KNEE) / 12.92
    )
    xyz = _mix(
        tuple(tuple(c / w for c in row) for row, w in zip(_RGB_TO_XYZ, _WHITE, strict=True)), linear
    )
    f = _pow(xyz.clamp_min(_XYZ_KNEE), 1 / 3) + (xyz.clamp_max(_XYZ_KNEE) - _XYZ_KNEE) * 7.787
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (N, 3, H, W) -> sRGB in [0, 1] (colours outside the gamut are clipped)."""
    lab = lab.float()
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    cubed = f.clamp_min(_F_KNEE)
    xyz = cubed * cubed * cubed + (f.clamp_max(_F_KNEE) - _F_KNEE) / 7.787
    to_rgb = tuple(tuple(c * w for c, w in zip(row, _WHITE, strict=True)) for row in _XYZ_TO_RGB)
    linear = _mix(to_rgb, xyz).clamp(0, 1)
    srgb = _pow(linear.clamp_min(_LINEAR_KNEE), 1 / 2.4) * 1.055 - 0.055
    srgb = srgb + (linear.clamp_max(_LINEAR_KNEE) - _LINEAR_KNEE) * 12.92
    return srgb.clamp(0, 1)


def _strided_pixels(x: torch.Tensor, count: int) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 3, 1, S): every k-th pixel in reading order, S <= count, with no
    copy of the image (x may be a padded view); x itself when it has no more than `count`.
    One row, not one column: OpenCV converts a row of S pixels in one call, a column of S
    one-pixel rows five times slower."""
    h, w = x.shape[-2:]
    if h * w <= count:
        return x
    step = -(-(h * w) // count)
    if x.stride(-1) == 1 and x.stride(-2) == w:  # each plane contiguous: a strided view
        return x.flatten(-2)[..., ::step].unsqueeze(-2)
    at = torch.arange(0, h * w, step, device=x.device)
    return x[:, :, at // w, at % w].unsqueeze(-2)


def palette(x: torch.Tensor, levels: int = PALETTE_LEVELS) -> torch.Tensor:
    """(N, 3, H, W) sRGB -> (N, 3, levels): each Lab channel's quantiles, evenly spaced."""
    lab = rgb_to_lab_fast(_strided_pixels(x, RANK_SAMPLE)).flatten(2)  # (N, 3, S)
    q = torch.linspace(0, 1, levels, device=x.device)
    return _quantiles(_sorted(lab), q)


def _sorted(x: torch.Tensor) -> torch.Tensor:
    """x sorted along its last dimension; on the CPU by OpenCV, one row per channel. A
    painting's 3 x 65536 values on a 2-core AMD EPYC (Zen 4, AVX-512), median of 30: 1.2 ms
    by cv2.sort, 4.3 ms by NumPy 2.4's np.sort, 10.9 ms by torch.sort; the same values."""
    if x.device.type != "cpu" or x.requires_grad or x.dtype != torch.float32 or not x.numel():
        return x.sort(dim=-1).values
    rows = np.ascontiguousarray(x.reshape(-1, x.shape[-1]).numpy())
    return torch.from_numpy(cv2.sort(rows, cv2.SORT_EVERY_ROW | cv2.SORT_ASCENDING)).view(x.shape)


def _quantiles(sorted_values: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Linear-interpolated quantiles `q` (in [0, 1]) of each row of sorted (..., P) values."""
    pos = q * (sorted_values.shape[-1] - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=sorted_values.shape[-1] - 1)
    frac = pos - lo
    return sorted_values[..., lo] * (1 - frac) + sorted_values[..., hi] * frac


class _RankMap:
    """Histogram matching of a result's Lab channels onto a palette, as a table per channel:
    a value's bin (of RANK_BINS between the ranked pixels' extremes) -> the palette's quantile
    at that bin's rank. A fine histogram instead of a sort: a sort of every pixel costs more
    than the generator at 512 px."""

    def __init__(self, ranked: torch.Tensor, target: torch.Tensor) -> None:
        """ranked: (N, 3, P) Lab values that set the ranks; target: (N or 1, 3, K) a palette."""
        self.low = ranked.amin(-1, keepdim=True)
        self.scale = (RANK_BINS - 1) / (ranked.amax(-1, keepdim=True) - self.low).clamp_min(1e-6)
        counts = torch.zeros(*ranked.shape[:-1], RANK_BINS, device=ranked.device)
        counts.scatter_add_(-1, self.bins(ranked), torch.ones_like(ranked))
        mid_rank = (counts.cumsum(-1) - counts / 2) / ranked.shape[-1]  # a bin's pixels share one
        target = target.to(ranked.device, torch.float32).expand(ranked.shape[0], -1, -1)
        pos = mid_rank * (target.shape[-1] - 1)
        lo = pos.floor().long().clamp(max=target.shape[-1] - 2)
        self.quantile = torch.lerp(target.gather(-1, lo), target.gather(-1, lo + 1), pos - lo)

    def bins(self, lab: torch.Tensor) -> torch.Tensor:
        """(N, 3, P) Lab -> each value's bin; values past the ranked extremes take the end bins."""
        return ((lab - self.low) * self.scale).round_().clamp_(0, RANK_BINS - 1).long()

    def __call__(self, lab: torch.Tensor, amount: float) -> torch.Tensor:
        """(N, 3, P) Lab -> moved `amount` of the way to the palette's quantile at its rank,
        read between the two nearest bins' quantiles (a curve, not a staircase of bins)."""
        pos = ((lab - self.low) * self.scale).clamp_(0, RANK_BINS - 1)
        lo = pos.floor().long().clamp_(max=RANK_BINS - 2)
        low_q, high_q = self.quantile.gather(-1, lo), self.quantile.gather(-1, lo + 1)
        return torch.lerp(lab, torch.lerp(low_q, high_q, pos - lo), amount)

    def map_channels_last(self, i: int, band: _Band, amount: float) -> None:
        """`__call__` for picture i's band, channels last, by OpenCV: from the Lab in
        `band.lab` to the matched Lab in `band.rgb`. The bin position is one affine transform,
        the lookup between bins one cv2.remap of the (3, RANK_BINS) quantile table (the band's
        values laid out as one table row per image row, `band.channel` giving each value's
        table row: 0, 1, 2, 0, ...; BORDER_REPLICATE holds the end bins), the blend one
        addWeighted. remap reads between bins in 1/32 steps and needs 3 W under 32767."""
        to_bins = np.zeros((3, 4), np.float32)
        to_bins[:, :3] = np.diag(self.scale[i, :, 0].numpy())
        to_bins[:, 3] = -(self.low[i, :, 0] * self.scale[i, :, 0]).numpy()
        cv2.transform(band.lab, to_bins, dst=band.rgb)
        table = np.ascontiguousarray(self.quantile[i].numpy(), dtype=np.float32)
        flat = band.rows, -1
        cv2.remap(
            table,
            band.rgb.reshape(flat),
            band.channel,
            cv2.INTER_LINEAR,
            dst=band.spare.reshape(flat),
            borderMode=cv2.BORDER_REPLICATE,
        )
        cv2.addWeighted(band.lab, 1.0 - amount, band.spare, amount, 0.0, dst=band.rgb)


@functools.lru_cache(maxsize=4)
def _channel_map(rows: int, width: int) -> np.ndarray:
    """(rows, 3 width) float32 0, 1, 2, 0, 1, 2, ...: each channels-last value's table row in
    `_RankMap.map_channels_last`; kept for the sizes that come again (a video's frames)."""
    channels = np.tile(np.arange(3, dtype=np.float32), (rows, width))
    channels.flags.writeable = False
    return channels


class _Band:
    """The float32 (rows, W, 3) arrays one band of `match_palette` passes through, allocated
    once per call and reused by every band (a 4096x2731 picture has 43): fresh arrays for each
    band cost more in page faults than OpenCV spends converting them."""

    def __init__(self, rows: int, width: int) -> None:
        self.buffers = [np.empty((rows, width, 3), np.float32) for _ in range(3)]
        self.channels = _channel_map(rows, width)
        self.rows = rows

    def load(self, rgb: torch.Tensor) -> None:
        """Take a (3, rows, W) sRGB band (rows at most the allocated): interleaved, clamped to
        [0, 1] and converted to Lab in `lab`."""
        self.rows = rgb.shape[1]
        self.rgb, self.lab, self.spare = (b[: self.rows] for b in self.buffers)
        self.channel = self.channels[: self.rows]
        cv2.merge([np.ascontiguousarray(rgb[c].numpy()) for c in range(3)], dst=self.rgb)
        np.clip(self.rgb, 0, 1, out=self.rgb)
        cv2.cvtColor(self.rgb, cv2.COLOR_RGB2Lab, dst=self.lab)

    def to_rgb(self) -> np.ndarray:
        """The matched Lab in `rgb` -> sRGB in [0, 1], (rows, W, 3)."""
        cv2.cvtColor(self.rgb, cv2.COLOR_Lab2RGB, dst=self.spare)
        return np.clip(self.spare, 0, 1, out=self.spare)


def match_palette(
    x: torch.Tensor, target: torch.Tensor, amount: float, *, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Move `amount` (0..1) of the way from x's Lab histograms to `target`'s (a `palette`).

    x: (N, 3, H, W) sRGB in [0, 1]; target: (N or 1, 3, K). Each pixel keeps its rank in each
    channel, so edges and shading stay where the generator put them. The ranks are those of
    MATCH_SAMPLE strided pixels (all of a smaller image); the result is made MATCH_BAND pixels
    at a time, channels last in OpenCV (interleave, Lab, `_RankMap.map_channels_last`, sRGB),
    so the only full-size tensor is the result itself; `out=x` writes it over x (each band is
    read before it is written), which spares a 4096x2731 result 134 MB. Measured on a 2-core
    AMD EPYC (AVX-512, AVX512-BF16), v3's results, old and new calls alternated: 1024 px 29 ms
    against 42 ms for the same steps in torch, 2048 px 86 against 127 (with the other core
    busy 40 against 49, 148 against 168); 512 px 9.1 against 8.0 (docs/benchmarks.md).
    """
    if amount <= 0:
        return x
    n, _, h, w = x.shape
    if (
        x.device.type != "cpu"
        or (x.requires_grad and torch.is_grad_enabled())
        or 3 * w >= 32767  # cv2.remap's limit
        or h * w < TINY_PICTURE  # OpenCV's binding takes a few values for a scalar
    ):
        return match_palette_exact(x, target, amount)
    rows = max(1, MATCH_BAND // w)
    # One intra-op thread for the copies of a picture of several bands: with torch's 2 on a
    # 2-core CPU whose other core is busy, every small op waits on it (4096x2731: over 20 s,
    # against 0.7 s on one thread).
    threads = torch.get_num_threads()
    if h * w > MATCH_BAND:
        torch.set_num_threads(1)
    try:
        band = _Band(min(rows, h), w)
        whole = n == 1 and h * w <= MATCH_SAMPLE and rows >= h  # its own sample: converted once
        if whole:
            band.load(x[0].float())
            ranked = torch.from_numpy(band.lab).view(1, h * w, 3).permute(0, 2, 1).contiguous()
        else:
            ranked = rgb_to_lab_fast(_strided_pixels(x, MATCH_SAMPLE)).flatten(2)
        rank_map = _RankMap(ranked, target)
        if out is None:
            out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        for i in range(n):
            for top in range(0, h, rows):
                if not whole:
                    band.load(x[i, :, top : top + rows].float())
                rank_map.map_channels_last(i, band, amount)
                out[i, :, top : top + rows] = torch.from_numpy(band.to_rgb()).permute(2, 0, 1)
    finally:
        torch.set_num_threads(threads)
    return out.to(x.dtype)


def match_palette_exact(x: torch.Tensor, target: torch.Tensor, amount: float) -> torch.Tensor:
    """`match_palette` with every pixel ranked and the whole image converted at once (by the
    same conversions): the reference its sampled ranks are measured against (tests,
    benchmarks/palette.py)."""
    if amount <= 0:
        return x
    lab = rgb_to_lab_fast(x)
    flat = lab.flatten(2)  # (N, 3, P)
    return lab_to_rgb_fast(_RankMap(flat, target)(flat, amount).view_as(lab)).to(x.dtype)


def match_distribution(
    x: torch.Tensor, target: torch.Tensor, iterations: int = DISTRIBUTION_ITERATIONS
) -> torch.Tensor:
    """Move x's joint Lab distribution onto `target`'s: x (N, 3, H, W) and target (N, 3, h, w)
    sRGB in [0, 1], any sizes.

    `match_palette` matches each Lab channel on its own, which keeps the three marginals and
    not how they go together: lightness from one picture with chroma from another makes colours
    neither had (a dark stroke across a pale blue sky is a dark blue). Iterative distribution
    transfer (Pitié, Kokaram and Dahyot 2005) matches the marginals along a rotated set of axes
    each round, so the joint distribution converges to the target's; each pixel moves only as
    far as the rank matching on each axis moves it. Seeded rotations: the same input gives the
    same picture."""
    g = torch.Generator().manual_seed(0)
    lab = rgb_to_lab(x).float()
    n, _, h, w = lab.shape
    flat = lab.flatten(2)  # (N, 3, P)
    goal = rgb_to_lab(_strided_pixels(target, RANK_SAMPLE)).flatten(2).float()
    q = torch.linspace(0, 1, PALETTE_LEVELS, device=x.device)
    for _ in range(iterations):
        rotation, _r = torch.linalg.qr(torch.randn(3, 3, generator=g))
        rotation = rotation.to(x.device)
        turned = torch.einsum("ij,njp->nip", rotation, flat)
        goal_turned = torch.einsum("ij,njp->nip", rotation, goal)
        axes_palette = _quantiles(_sorted(goal_turned), q)
        sample = turned[..., :: max(1, turned.shape[-1] // MATCH_SAMPLE)]
        turned = _RankMap(sample, axes_palette)(turned, 1.0)
        flat = torch.einsum("ji,njp->nip", rotation, turned)  # rotate back (R^T)
    return lab_to_rgb(flat.view(n, 3, h, w)).to(x.dtype)
