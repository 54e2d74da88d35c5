"""The GAN pipeline, and ``load_stylizer``: the one way in for every caller.

``load_stylizer(path)`` gives the GAN pipeline for a model file, or the optimisation method
(Gatys, models.optimisation) when no model is given. Both make the call of models.stylizer:
PIL images in, a PIL image of the content's size out.
Each has its own size: the GAN's `tile_size` (the largest side it processes in one pass) and
the optimisation method's `working_size` (the side it optimises at); each ignores the other's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from contracts.stylize import resolve_controls, stroke_working_side
from models.backends import (
    GraphCache,
    GraphDirectory,
    InferenceBackend,
    describe,
    open_backend,
)
from models.color import match_palette, palette
from models.controls import blend_controls, preserve_colors
from models.encoders import DEFAULT_ENCODER, Encoder, build_encoder
from models.guided import carry_to_photo, resize_longer
from models.images import to_image, to_tensor
from models.modelfile import load_model, read_metadata
from models.networks import Generator, StyleStats
from models.optimisation import OptimisationStylizer
from models.stylizer import Progress, StyleInput, Stylizer, check_strength, select_device
from models.tiling import (
    BLEED,
    PAD_MULTIPLE,
    TILE_OVERLAP,
    Bleed,
    bled_shape,
    stylize_tiled,
    with_bleed,
)

# The longer side a new painting is encoded at. Measured on 300 val pairs at 512 px
# (atelier evaluate's scores, the shipped v2 on OpenVINO bf16): 512 / 384 / 256 px gave style
# 6.453 / 6.486 / 6.739, colour 2.60 / 2.59 / 2.60, SSIM 0.497 / 0.494 / 0.491. 384 is within
# 1% of 512 on every score for 56% of its pixels; 256 loses 4.4% of the style score.
STYLE_SIZE = 384

# The photo shapes a worker prepares before its first job (`warm_up`'s `shapes`): the usual
# aspect ratios, landscape and portrait, at long sides of 512 and 768 px. Why: a backend builds
# its kernels for each input shape on the first call at it, so the first photo of a new shape
# costs about twice a warm call (the shipped v4 on OpenVINO bf16, 2 threads, a 2-core Zen 5
# EPYC with AVX-512 + bf16, the graph alone: 512x512 44 / 21 ms, 384x512 35 / 16; torch
# 50 / 35 and 39 / 28), whatever was warmed before. The eighteen shapes take about 0.6 s
# and 80-100 MiB more of the worker's memory there; a photo within 16 px of one of them
# (500x375 runs as 512x384) then starts warm. Larger photos are compiled for at once
# (models.backends.specialise), and video frames repeat one shape.
COMMON_ASPECTS = ((1, 1), (4, 3), (3, 2), (16, 9), (5, 4))
COMMON_LONG_SIDES = (512, 768)


def common_photo_shapes(
    long_sides: Sequence[int] = COMMON_LONG_SIDES,
    aspects: Sequence[tuple[int, int]] = COMMON_ASPECTS,
) -> list[tuple[int, int]]:
    """(height, width) of each aspect ratio, landscape then portrait, at each long side."""
    shapes: list[tuple[int, int]] = []
    for side in long_sides:
        for a, b in aspects:
            short = round(side * min(a, b) / max(a, b))
            for shape in ((short, side), (side, short)):
                if shape not in shapes:
                    shapes.append(shape)
    return shapes


def precision_of(bf16: bool | None) -> str:
    """The backends' precision for the older bf16 flag: None is auto."""
    return "auto" if bf16 is None else "bf16" if bf16 else "f32"


class GANStylizer:
    """Encoder -> fusion -> decoder, on an inference backend. ``__call__`` stylizes one photo."""

    method = "gan"

    def __init__(
        self,
        generator: Generator,
        encoder: Encoder,
        device: torch.device,
        model_info: dict[str, Any] | None = None,
        *,
        backend: str | InferenceBackend = "torch",
        bf16: bool | None = None,
        channels_last: bool | None = None,
        model_sha256: str | None = None,
        graph_cache: GraphCache | None = None,
        style_size: int = STYLE_SIZE,
        tile_overlap: int = TILE_OVERLAP,
        bleed: Bleed = BLEED,
    ) -> None:
        """bleed: the mirrored pixels (rows, columns) at each end of every photo, cut off after
        (models.tiling; (0, 0) shows the generator's dark edge band, for comparison)."""
        self.device = device
        self.encoder = encoder
        self.generator = generator.eval()
        self.model_info = model_info or {}
        self.untrained = encoder.untrained or bool(
            self.model_info.get("encoder", {}).get("untrained")
        )
        # Defaults by measurement (benchmarks/stylize.py, README): on a CPU with native bf16,
        # bf16 arithmetic (torch's autocast, OpenVINO's precision hint), channels_last on torch.
        self.backend: InferenceBackend = (
            backend
            if not isinstance(backend, str)
            else open_backend(
                backend,
                encoder,
                generator,
                device,
                model_sha256=model_sha256,
                cache=graph_cache,
                precision=precision_of(bf16),
                channels_last=channels_last,
            )
        )
        self.style_size = style_size
        self.tile_overlap = tile_overlap
        if any(b % PAD_MULTIPLE or b < 0 for b in bleed):
            raise ValueError(f"bleed must be two multiples of {PAD_MULTIPLE}")
        self.bleed = bleed
        self.taps = tuple(t.name for t in self.generator.taps)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        device: str = "auto",
        *,
        backend: str = "auto",
        graph_cache: GraphCache | None = None,
        remeasure: bool = False,
        **options: Any,
    ) -> GANStylizer:
        """The model file's pipeline on `backend` (models.backends; `remeasure`: auto times
        the backends again). Options not the backend's go to the constructor."""
        meta_encoder = str(read_metadata(path)["encoder"]["name"])
        dev = select_device(device)
        encoder = build_encoder(meta_encoder, dev)
        generator, meta = load_model(path, encoder)
        runner = open_backend(
            backend,
            encoder,
            generator,
            dev,
            model_sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            cache=graph_cache if graph_cache is not None else GraphDirectory(),
            remeasure=remeasure,
            precision=options.pop("precision", None) or precision_of(options.pop("bf16", None)),
            channels_last=options.pop("channels_last", None),
        )
        return cls(generator, encoder, dev, meta, backend=runner, **options)

    @property
    def backend_info(self) -> dict[str, str]:
        """Which backend runs this model, as results record it."""
        return describe(self.backend)

    def warm_up(self, side: int = 256, shapes: Sequence[tuple[int, int]] = ()) -> int:
        """One whole call (a painting's statistics, the `side` px photo through the graphs,
        palette matching, the picture out) on random pixels, so that the first job pays
        neither the backend's first-call allocations and kernel choices (measured: 4.5 s cold
        against 1.7 s warm) nor the first use of each step after it (OpenCV builds its Lab
        tables on its first conversion: `benchmarks/first_job.py`, a 512 px first job against
        the tenth, 86 / 54 and 99 / 56 ms before, 76 / 58, 96 / 68, 126 / 80 and 103 / 64
        after, on a noisy 2-core EPYC; docs/benchmarks.md). A dynamic OpenVINO graph keeps
        the buffers of the largest shape it ran, so a warm-up at the largest side to come
        spares later calls their allocations too. On OpenVINO the side is capped so that its
        bled photo (models.tiling) is the largest the dynamic graph serves (larger photos get a
        graph compiled for their shape on their first call, models.backends.specialise).
        The painting is a square at the style size, the largest shape the encoder meets in a
        painting's statistics, for the same reason: a fresh worker's first new painting
        (la_muse, 384x320 there) then took 17.4 ms against 33.5 after a warm-up that encoded a
        384x192 one; later new shapes 16-17 ms either way, a known one 10-13 (one process, a
        2-core Zen 5 EPYC, AVX-512 + bf16, 2026-12-07).
        Then each of `shapes` (height, width; `common_photo_shapes()` for a worker) that runs in
        one pass at a tile size of `side`, through the graphs alone, once per shape the backend
        sees (with the bleed): the first photo of a shape otherwise pays for its kernels.
        How many of `shapes` it ran."""
        tile_size = side  # photos up to it run in one pass
        if self.backend.largest_dynamic_side is not None:  # the bled photo within it
            side = min(side, self.backend.largest_dynamic_side - 2 * max(self.bleed))
        noise = torch.Generator().manual_seed(0)
        photo = to_image(torch.rand(1, 3, side, side, generator=noise))
        painting = to_image(torch.rand(1, 3, self.style_size, self.style_size, generator=noise))
        style = self.style_stats(painting)
        self(photo, [style])
        seen = {bled_shape(side, side, self.bleed)}
        warmed = 0
        for h, w in shapes:
            bled = bled_shape(h, w, self.bleed)
            if max(h, w) <= tile_size and bled not in seen:
                seen.add(bled)
                self._run(torch.rand(1, 3, h, w, generator=noise), style, 1.0)
                warmed += 1
        return warmed

    @torch.inference_mode()
    def style_stats(self, style: Image.Image) -> StyleStats:
        """Encode a style once; the result can be stored and reused with no encoder pass."""
        # The painting at style_size, its sides made multiples of the encoder's stride (under
        # 2% of aspect at 512 px), not padded: padded borders would add mirrored texture to the
        # statistics. One resampling to that size: a box reduction by the whole factor, then
        # Lanczos for the rest (Pillow's reducing_gap): 4 ms for a 1200x1000 painting against
        # 13 ms for Lanczos alone, at the same scores (docs/benchmarks.md).
        scale = min(1.0, self.style_size / max(style.size))
        w, h = (
            max(PAD_MULTIPLE, round(side * scale / PAD_MULTIPLE) * PAD_MULTIPLE)
            for side in style.size
        )
        x = to_tensor(
            style
            if (w, h) == style.size
            else style.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=1.0)
        )
        _, stats = self.backend.encode_with_stats(x)
        means = {t: m for t, (m, _) in stats.items()}
        return StyleStats(means, {t: s for t, (_, s) in stats.items()}, palette(x).cpu())

    def _blend_styles(
        self, styles: Sequence[StyleInput], weights: Sequence[float] | None
    ) -> StyleStats:
        if not styles:
            raise ValueError("at least one style is needed")
        stats = [s.to("cpu") if isinstance(s, StyleStats) else self.style_stats(s) for s in styles]
        w = list(weights) if weights is not None else [1.0] * len(stats)
        if len(w) != len(stats) or any(v < 0 for v in w) or sum(w) <= 0:
            raise ValueError(
                "style weights must be one non-negative number per style, not all zero"
            )
        return StyleStats.blend(stats, w)

    @torch.inference_mode()
    def __call__(
        self,
        content: Image.Image,
        styles: Sequence[StyleInput],
        *,
        weights: Sequence[float] | None = None,
        strength: float = 1.0,
        preserve_color: bool = False,
        tile_size: int | None = None,
        working_size: int | None = None,
        progress: Progress | None = None,
        color_strength: float | None = None,
        texture_strength: float | None = None,
        stroke_scale: float | None = None,
    ) -> Image.Image:
        """Stylize `content` with `styles`.

        Args:
            content: the photo; the output has its size.
            styles: style images, or StyleStats saved from ``style_stats``.
            weights: one weight per style for blending (default: equal).
            strength: 0 gives the decoder's reconstruction of the photo, 1 the full style.
            preserve_color: keep the photo's colours (luminance-only transfer).
            tile_size: largest side processed in one pass; bigger photos are processed in
                overlapping tiles that share content and style statistics, so seams do not show.
            working_size: the optimisation method's; the GAN works at the photo's size.
            progress: called with the fraction done; it may raise to abort.
            color_strength, texture_strength: the palette and the marks, 0..1 each
                (models/controls.py); either replaces the strength/preserve_color shorthands.
            stroke_scale: the marks' size relative to the picture (contracts.stylize); None
                paints at the photo's own size (models/guided.py carries it there).
        """
        check_strength(strength)
        controls = resolve_controls(strength, preserve_color, color_strength, texture_strength)
        style = self._blend_styles(styles, weights)
        photo = to_tensor(content)
        x = (
            photo
            if stroke_scale is None
            else resize_longer(photo, stroke_working_side(stroke_scale))
        )
        out = self.stylize_tensor(
            x, style, strength=strength, tile_size=tile_size, progress=progress
        )
        if controls is not None:
            out = blend_controls(x, out, style.palette, *controls)
        elif preserve_color:
            out = preserve_colors(out, x)
        elif style.palette is not None:
            # After tiling, so the whole image shares one mapping; less of it at lower strength.
            amount = self.generator.config.palette_match * strength
            out = match_palette(out, style.palette, amount, out=out)
        if x is not photo:
            out = carry_to_photo(out, x, photo)
        return to_image(out)

    @torch.inference_mode()
    def stylize_tensor(
        self,
        content: torch.Tensor,
        style: StyleStats,
        *,
        strength: float = 1.0,
        tile_size: int | None = None,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """(1, 3, H, W) in [0, 1] -> stylized (1, 3, H, W) on the CPU."""
        h, w = content.shape[-2:]
        if tile_size is None or max(h, w) <= tile_size:
            out = self._run(content, style, strength)
            if progress:
                progress(1.0)
            return out
        return self._run_tiled(content, style, strength, tile_size, progress)

    def _run(self, content: torch.Tensor, style: StyleStats, strength: float) -> torch.Tensor:
        """The photo in one pass: the backend's single call, on the photo with its bleed."""
        h, w = content.shape[-2:]
        by, bx = self.bleed
        out = self.backend.stylize(with_bleed(content, self.bleed), style, strength)
        # contiguous: palette matching then runs 5 ms faster at 1,024 px
        return out[..., by : by + h, bx : bx + w].float().cpu().contiguous()

    def _run_tiled(
        self,
        content: torch.Tensor,
        style: StyleStats,
        strength: float,
        tile: int,
        progress: Progress | None,
    ) -> torch.Tensor:
        strides = {t.name: t.stride for t in self.generator.taps}
        return stylize_tiled(
            content,
            tile,
            min(self.tile_overlap, tile // 4),
            encode=self.backend.encode,
            strides=strides,
            render=lambda x, stats: self.backend.render(
                self.backend.encode(x), style, strength, stats
            ),
            render_features=lambda feats, stats: self.backend.render(feats, style, strength, stats),
            progress=progress,
            bleed=self.bleed,
        )


def load_stylizer(
    model_path: str | Path | None,
    *,
    encoder: str = DEFAULT_ENCODER,
    device: str = "auto",
    optimisation_steps: int = 100,
    optimisation_size: int = 384,
    **options: Any,
) -> Stylizer:
    """The GAN pipeline for `model_path`, or the optimisation method when it is None.

    With a model file, the encoder is the one the model names (`encoder` is ignored).
    """
    if model_path is not None:
        return GANStylizer.from_file(model_path, device=device, **options)
    dev = select_device(device)
    return OptimisationStylizer(
        build_encoder(encoder, dev), dev, steps=optimisation_steps, image_size=optimisation_size
    )
