"""Model evaluation: content score, style score, colour distance, content SSIM, KID, contact sheet.

Per (photo, painting) pair, averaged over the pairs:
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

`evaluate` scores one model (the registry scores every trained model with it); `compare` scores
several methods on the same pairs in one run, with their time per image at 512 px
(`atelier evaluate`).
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

from models.color import rgb_to_lab
from models.encoders import EfficientNetLite0, Encoder
from models.images import resize_max_side, to_tensor
from models.inference import GANStylizer
from models.losses import content_loss, mean_std, sliced_wasserstein, style_loss
from models.optimisation import OptimisationStylizer
from models.stylizer import Stylizer

Pair = tuple[int, int]  # (photo index, painting index)
# Called with (method, pairs done, pairs in all) after every pair.
PairProgress = Callable[[str, int, int], None]

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


@dataclass
class MethodScores:
    content: float
    style: float
    color: float
    ssim: float
    kid: float
    kid_std: float
    seconds_per_image: float  # one call at the evaluation size, as run


@dataclass
class EvaluationReport:
    model: MethodScores
    reference: MethodScores | None
    sheet: Image.Image
    pairs: int
    notes: list[str] = field(default_factory=list)

    def scores(self) -> dict[str, float]:
        out = {f"{k}": v for k, v in vars(self.model).items()}
        if self.reference is not None:
            out.update({f"reference_{k}": v for k, v in vars(self.reference).items()})
        return out


def _device(encoder: Encoder) -> torch.device:
    return next(encoder.parameters()).device


def _square(image: Image.Image, size: int) -> Image.Image:
    """Centre crop to a square and resize: KID compares images of one size."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize(
        (size, size), Image.Resampling.BICUBIC
    )


def _shrink_short_side(image: Image.Image, side: int) -> Image.Image:
    """At most `side` px on the short side (never enlarged)."""
    if min(image.size) <= side:
        return image
    scale = side / min(image.size)
    size = (max(side, round(image.width * scale)), max(side, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


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


def _run_method(
    name: str,
    method: Stylizer,
    targets: _Targets,
    pairs: Sequence[Pair],
    kid_real: torch.Tensor,
    kid_size: int,
    *,
    scored: Iterable[Pair] | None = None,
    keep: Iterable[Pair] = (),
    progress: PairProgress | None = None,
) -> tuple[MethodScores, dict[Pair, Image.Image]]:
    """Stylize every pair; score those in `scored` (default: all); keep the results in `keep`."""
    scored_set = set(pairs if scored is None else scored)
    keep_set = set(keep)
    per_pair: list[tuple[float, ...]] = []
    fakes: list[torch.Tensor] = []
    kept: dict[Pair, Image.Image] = {}
    seconds = 0.0
    for done, (ci, si) in enumerate(pairs, 1):
        start = time.perf_counter()
        result = method(targets.photos[ci], [targets.paintings[si]])
        seconds += time.perf_counter() - start
        if (ci, si) in scored_set:
            per_pair.append(targets.pair_scores(ci, si, result, COLOR_SEED + len(per_pair)))
            fakes.append(to_tensor(_square(result, kid_size)))
        if (ci, si) in keep_set:
            kept[(ci, si)] = result
        if progress is not None:
            progress(name, done, len(pairs))
    if not per_pair:
        raise ValueError("no pair to score")
    content, style, color, ssim_mean = (statistics.fmean(c) for c in zip(*per_pair, strict=True))
    kid_mean, kid_std = _kid(targets.encoder, kid_real, torch.cat(fakes))
    return (
        MethodScores(content, style, color, ssim_mean, kid_mean, kid_std, seconds / len(pairs)),
        kept,
    )


def contact_sheet(
    rows: list[list[Image.Image]], headers: Sequence[str], cell: int = 192
) -> Image.Image:
    """Rows of images (content, style, results...) as one labelled PNG-ready image."""
    pad, head = 6, 22
    cols = len(headers)
    sheet = Image.new(
        "RGB", (cols * (cell + pad) + pad, head + len(rows) * (cell + pad) + pad), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for j, title in enumerate(headers):
        draw.text((pad + j * (cell + pad) + 4, 5), title, fill="black")
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            thumb = image.copy()
            thumb.thumbnail((cell, cell))
            x = pad + j * (cell + pad) + (cell - thumb.width) // 2
            y = head + pad + i * (cell + pad) + (cell - thumb.height) // 2
            sheet.paste(thumb, (x, y))
    return sheet


def evaluate(
    stylizer: Stylizer,
    contents: Sequence[Image.Image],
    styles: Sequence[Image.Image],
    *,
    image_size: int = 256,
    reference_steps: int = 150,
    kid_size: int = 128,
) -> EvaluationReport:
    """Stylize every content with every style; score the model and, if `reference_steps` > 0, the
    optimisation method on the same pairs; draw the contact sheet
    (rows = content x style; columns = content, style, model result[, optimisation result])."""
    contents = [resize_max_side(c, image_size) for c in contents]
    styles = [resize_max_side(s, image_size) for s in styles]
    if not contents or not styles:
        raise ValueError("evaluation needs at least one content and one style image")
    encoder: Encoder = stylizer.encoder  # type: ignore[attr-defined]
    pairs = [(ci, si) for ci in range(len(contents)) for si in range(len(styles))]
    targets = _Targets(encoder, contents, styles)
    kid_real = torch.cat([to_tensor(_square(s, kid_size)) for s in styles])
    model_scores, results = _run_method(
        stylizer.method, stylizer, targets, pairs, kid_real, kid_size, keep=pairs
    )
    reference = None
    ref_results: dict[Pair, Image.Image] = {}
    if reference_steps > 0 and isinstance(stylizer, GANStylizer):
        ref = OptimisationStylizer(
            encoder, stylizer.device, steps=reference_steps, image_size=image_size
        )
        reference, ref_results = _run_method(
            ref.method, ref, targets, pairs, kid_real, kid_size, keep=pairs
        )
    headers = ["content", "style", f"{stylizer.method}"] + (
        ["optimisation (reference)"] if ref_results else []
    )
    rows = []
    for pair in pairs:
        row = [contents[pair[0]], styles[pair[1]], results[pair]]
        if ref_results:
            row.append(ref_results[pair])
        rows.append(row)
    notes = ["UNTRAINED encoder: scores are not quality figures"] if encoder.untrained else []
    return EvaluationReport(
        model_scores, reference, contact_sheet(rows, headers), len(pairs), notes
    )


def sample_pairs(photos: int, paintings: int, min_pairs: int, seed: int) -> list[Pair]:
    """Every photo with k = ceil(min_pairs / photos) paintings (at most all of them), read in
    turn from one seeded permutation of the paintings, so each painting is used about equally
    often and no photo gets a painting twice. Deterministic for given counts and seed."""
    if photos < 1 or paintings < 1:
        raise ValueError("evaluation needs at least one photo and one painting")
    k = min(paintings, max(1, -(-min_pairs // photos)))
    order = torch.randperm(paintings, generator=torch.Generator().manual_seed(seed)).tolist()
    return [(ci, order[(ci * k + j) % paintings]) for ci in range(photos) for j in range(k)]


def sheet_pairs(photos: int, paintings: int, rows: int, columns: int, seed: int) -> list[Pair]:
    """A seeded choice of `rows` photos x `columns` paintings, photo by photo."""
    generator = torch.Generator().manual_seed(seed + 1)  # not the evaluation pairs' order
    chosen_photos = sorted(torch.randperm(photos, generator=generator)[:rows].tolist())
    chosen_paintings = sorted(torch.randperm(paintings, generator=generator)[:columns].tolist())
    return [(ci, si) for ci in chosen_photos for si in chosen_paintings]


def _seconds_at(
    method: Stylizer,
    photos: Sequence[Image.Image],
    paintings: Sequence[Image.Image],
    pairs: Sequence[Pair],
    size: int,
) -> float:
    """Median wall time of one call at size x size output (the photo's centre square), with the
    painting as loaded (a new style image every call), after one warm-up call at 64 px that
    loads what a method loads lazily."""
    method(_square(photos[pairs[0][0]], 64), [paintings[pairs[0][1]]])
    times = []
    for ci, si in pairs:
        photo = _square(photos[ci], size)
        start = time.perf_counter()
        method(photo, [paintings[si]])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Comparison:
    """Several methods scored on the same pairs in one run: the table of `atelier evaluate`."""

    scores: dict[str, MethodScores]  # method name -> scores, in table order
    seconds_at_timing_size: dict[str, float]
    pairs: int
    image_size: int
    timing_size: int
    timing_pairs: int
    sheet: Image.Image | None = None
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text table, one row per method."""
        head = (
            f"{'method':<14}{'content':>9}{'style':>9}{'colour':>9}{'SSIM':>8}"
            f"{'KID':>18}{f's/img {self.timing_size}px':>14}"
        )
        lines = [head, "-" * len(head)]
        for name, s in self.scores.items():
            kid = f"{s.kid:.4f} +- {s.kid_std:.4f}"
            lines.append(
                f"{name:<14}{s.content:>9.3f}{s.style:>9.3f}{s.color:>9.2f}{s.ssim:>8.3f}"
                f"{kid:>18}{self.seconds_at_timing_size[name]:>14.3f}"
            )
        lines += [
            "",
            f"{self.pairs} pairs at {self.image_size} px (short side); lower is better but SSIM.",
            "content, style: encoder feature distances; KID: encoder pooled features (+- its std"
            " over subsets).",
            "colour: sliced Wasserstein-1 distance of Lab pixel distributions to the painting's,"
            " in Lab units.",
            f"SSIM: luminance against the photo's at {SSIM_SHORT_SIDE} px short side (1 = its"
            " structure intact).",
            f"s/img: median of {self.timing_pairs} calls at {self.timing_size}x{self.timing_size}"
            " output, a new style image every call, after a warm-up call.",
        ]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "image_size": self.image_size,
            "timing_size": self.timing_size,
            "timing_pairs": self.timing_pairs,
            "methods": {
                name: {**vars(s), "seconds_at_timing_size": self.seconds_at_timing_size[name]}
                for name, s in self.scores.items()
            },
            "notes": self.notes,
        }


def compare(
    methods: Mapping[str, Stylizer],
    encoder: Encoder,
    photos: Sequence[Image.Image],
    paintings: Sequence[Image.Image],
    pairs: Sequence[Pair],
    *,
    image_size: int = 256,
    kid_size: int = 128,
    timing_size: int = 512,
    timing_pairs: int = 3,
    sheet: Sequence[Pair] = (),
    progress: PairProgress | None = None,
) -> Comparison:
    """Score every method on the same (photo, painting) pairs and time it at `timing_size`.

    Args:
        methods: table row name -> stylizer; a method whose `method` is "identity" is left out
            of the contact sheet (it would repeat the photo column).
        encoder: the encoder whose features define the content and style scores and KID.
        photos, paintings: the images as loaded; they are evaluated at `image_size` px on the
            short side (never enlarged) and timed at `timing_size` px square.
        pairs: the scored pairs (see `sample_pairs`); the first `timing_pairs` are timed.
        sheet: pairs drawn in the contact sheet (photo, painting, one column per method); those
            outside `pairs` are stylized for the sheet only, not scored.
        progress: called with (method, pairs done, pairs in all).
    """
    if not pairs:
        raise ValueError("evaluation needs at least one (photo, painting) pair")
    small_photos = [_shrink_short_side(p, image_size) for p in photos]
    small_paintings = [_shrink_short_side(p, image_size) for p in paintings]
    targets = _Targets(encoder, small_photos, small_paintings)
    used = sorted({si for _, si in pairs})
    kid_real = torch.cat([to_tensor(_square(small_paintings[si], kid_size)) for si in used])
    scored = set(pairs)
    todo = list(pairs) + [p for p in dict.fromkeys(sheet) if p not in scored]
    scores: dict[str, MethodScores] = {}
    seconds: dict[str, float] = {}
    drawn: dict[str, dict[Pair, Image.Image]] = {}
    timed = list(pairs[: max(1, timing_pairs)])
    for name, method in methods.items():
        scores[name], kept = _run_method(
            name, method, targets, todo, kid_real, kid_size,
            scored=scored, keep=sheet, progress=progress,
        )  # fmt: skip
        if method.method != "identity":
            drawn[name] = kept
        seconds[name] = _seconds_at(method, photos, paintings, timed, timing_size)
    rows = [
        [small_photos[ci], small_paintings[si]] + [kept[(ci, si)] for kept in drawn.values()]
        for ci, si in sheet
    ]
    notes = ["UNTRAINED encoder: scores are not quality figures"] if encoder.untrained else []
    return Comparison(
        scores,
        seconds,
        len(pairs),
        image_size,
        timing_size,
        len(timed),
        contact_sheet(rows, ["photo", "painting", *drawn], cell=160) if rows else None,
        notes,
    )


def save_jpeg_under(image: Image.Image, path: str | Path, max_bytes: int = 1_000_000) -> int:
    """Save as JPEG at the highest quality (90 down to 60) that fits `max_bytes`, then smaller
    if even quality 60 does not; returns the quality used."""
    while True:
        for quality in range(90, 55, -5):
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=quality, optimize=True)
            if buffer.tell() <= max_bytes:
                Path(path).write_bytes(buffer.getvalue())
                return quality
        image = image.resize(
            (image.width * 4 // 5, image.height * 4 // 5), Image.Resampling.LANCZOS
        )
