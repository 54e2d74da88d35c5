"""Model evaluation runs: every method over (photo, painting) pairs, the table, the contact sheet.

`evaluate` scores one model (the registry scores every trained model with it); `compare` scores
several methods on the same pairs in one run, with their time per image at 512 px
(`atelier evaluate`). The scores themselves (content, style, colour distance, content SSIM,
KID) are defined in models/scores.py.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from models.encoders import Encoder
from models.images import resize_max_side, to_tensor
from models.inference import GANStylizer
from models.optimisation import OptimisationStylizer
from models.scores import COLOR_SEED, SSIM_SHORT_SIDE, _kid, _Targets
from models.stylizer import Stylizer

Pair = tuple[int, int]  # (photo index, painting index)
# Called with (method, pairs done, pairs in all) after every pair.
PairProgress = Callable[[str, int, int], None]


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
