"""The stylization pipelines: one object, one documented call.

``load_stylizer(path)`` gives the GAN pipeline for a model file, or the optimisation method
(Gatys) when no model is given. Both take PIL images and return a PIL image of the content's size.
Each has its own size: the GAN's `tile_size` (the largest side it processes in one pass) and
the optimisation method's `working_size` (the side it optimises at); each ignores the other's.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from PIL import Image

from models.color import match_palette, palette
from models.encoders import DEFAULT_ENCODER, Encoder, build_encoder
from models.images import resize_max_side, to_image, to_tensor
from models.modelfile import load_model, read_metadata
from models.networks import Generator, StyleStats
from models.optimisation import optimise

Progress = Callable[[float], None]
StyleInput = Image.Image | StyleStats
# Every encoder tap the generator uses is a multiple of this stride.
PAD_MULTIPLE = 16


def select_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.cache
def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX); without it bf16 is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise ValueError("strength must be between 0 and 1")


class Stylizer(Protocol):
    method: str
    untrained: bool
    model_info: dict[str, Any]

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
    ) -> Image.Image: ...


def preserve_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer (Gatys et al. 2017): the result's Y with the photo's Cb and Cr."""

    def ycbcr(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        return y, (b - y) * 0.564, (r - y) * 0.713

    y, _, _ = ycbcr(stylized)
    _, cb, cr = ycbcr(content)
    r = y + 1.403 * cr
    b = y + 1.773 * cb
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return torch.cat([r, g, b], dim=1).clamp(0, 1)


def _pad_to_multiple(x: torch.Tensor, multiple: int = PAD_MULTIPLE) -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom/right so that every encoder stride divides it exactly."""
    h, w = x.shape[-2:]
    ph = max(math.ceil(h / multiple) * multiple, 2 * multiple) - h
    pw = max(math.ceil(w / multiple) * multiple, 2 * multiple) - w
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, [0, pw, 0, ph], mode=mode)


def _tiles(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering [0, length) with at least `overlap` shared."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (n - 1)
    return [round(i * step) for i in range(n)]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """Blend weights along one axis of a tile: linear ramps where it overlaps a neighbour."""
    w = torch.ones(length)
    ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
    if not at_start:
        w[:overlap] = ramp
    if not at_end:
        w[-overlap:] = ramp.flip(0)
    return w


class GANStylizer:
    """Encoder -> AdaIN fusion -> decoder. ``__call__`` stylizes one photo."""

    method = "gan"

    def __init__(
        self,
        generator: Generator,
        encoder: Encoder,
        device: torch.device,
        model_info: dict[str, Any] | None = None,
        *,
        bf16: bool | None = None,
        channels_last: bool | None = None,
        style_size: int = 512,
        tile_overlap: int = 64,
    ) -> None:
        self.device = device
        self.encoder = encoder.to(device)
        self.generator = generator.to(device).eval()
        self.model_info = model_info or {}
        self.untrained = encoder.untrained or bool(
            self.model_info.get("encoder", {}).get("untrained")
        )
        # Defaults by measurement (benchmarks/stylize.py, README): on this CPU channels_last and
        # bf16 autocast together run 512 px in about half and 1024 px in about a third of the
        # fp32 contiguous time. bf16 only where the CPU has native bf16 instructions.
        if bf16 is None:
            bf16 = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
        self.bf16 = bf16
        self.channels_last = device.type != "mps" if channels_last is None else channels_last
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.encoder.to(memory_format=torch.channels_last)
        self.style_size = style_size
        self.tile_overlap = tile_overlap
        self.taps = tuple(t.name for t in self.generator.taps)

    @classmethod
    def from_file(cls, path: str | Path, device: str = "auto", **options: Any) -> GANStylizer:
        meta_encoder = str(read_metadata(path)["encoder"]["name"])
        dev = select_device(device)
        encoder = build_encoder(meta_encoder, dev)
        generator, meta = load_model(path, encoder)
        return cls(generator, encoder, dev, meta, **options)

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        if self.bf16:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                yield
        else:
            yield

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.inference_mode()
    def style_stats(self, style: Image.Image) -> StyleStats:
        """Encode a style once; the result can be stored and reused with no encoder pass."""
        x = self._prepare(to_tensor(resize_max_side(style, self.style_size)))
        with self._autocast():
            feats = self.encoder(x, self.taps)
        return StyleStats.of({t: f.float() for t, f in feats.items()}, palette(x).cpu())

    def _blend_styles(
        self, styles: Sequence[StyleInput], weights: Sequence[float] | None
    ) -> StyleStats:
        if not styles:
            raise ValueError("at least one style is needed")
        stats = [
            s.to(self.device) if isinstance(s, StyleStats) else self.style_stats(s) for s in styles
        ]
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
        """
        _check_strength(strength)
        style = self._blend_styles(styles, weights)
        x = to_tensor(content)
        out = self.stylize_tensor(
            x, style, strength=strength, tile_size=tile_size, progress=progress
        )
        if preserve_color:
            out = preserve_colors(out, x)
        elif style.palette is not None:
            # After tiling, so the whole image shares one mapping; less of it at lower strength.
            out = match_palette(out, style.palette, self.generator.config.palette_match * strength)
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

    def _run(
        self,
        content: torch.Tensor,
        style: StyleStats,
        strength: float,
        content_stats: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        h, w = content.shape[-2:]
        x = self._prepare(_pad_to_multiple(content))
        with self._autocast():
            feats = self.encoder(x, self.taps)
            fused = self.generator.fuse(feats, style, strength, content_stats)
            out = self.generator.decode(fused, (x.shape[-2], x.shape[-1]))
        return out[..., :h, :w].float().cpu()

    def _run_tiled(
        self,
        content: torch.Tensor,
        style: StyleStats,
        strength: float,
        tile: int,
        progress: Progress | None,
    ) -> torch.Tensor:
        h, w = content.shape[-2:]
        overlap = min(self.tile_overlap, tile // 4)
        ys, xs = _tiles(h, tile, overlap), _tiles(w, tile, overlap)
        boxes = [(y, x, min(y + tile, h), min(x + tile, w)) for y in ys for x in xs]
        total_steps = 2 * len(boxes)
        # Pass 1: content statistics of the whole photo, accumulated over the tiles' cores (each
        # pixel counted once), so every tile is normalised alike.
        sums: dict[str, list[torch.Tensor]] = {}
        for i, (y0, x0, y1, x1) in enumerate(boxes):
            cy0 = 0 if y0 == 0 else y0 + overlap // 2
            cx0 = 0 if x0 == 0 else x0 + overlap // 2
            cy1 = h if y1 == h else y1 - overlap // 2
            cx1 = w if x1 == w else x1 - overlap // 2
            with self._autocast():
                feats = self.encoder(
                    self._prepare(_pad_to_multiple(content[..., y0:y1, x0:x1])), self.taps
                )
            for t, f in feats.items():
                s = self.encoder.tap(t).stride
                core = f.float()[
                    ...,
                    (cy0 - y0) // s : max((cy1 - y0) // s, (cy0 - y0) // s + 1),
                    (cx0 - x0) // s : max((cx1 - x0) // s, (cx0 - x0) // s + 1),
                ]
                acc = sums.setdefault(t, [torch.zeros(()), torch.zeros(()), torch.zeros(())])
                acc[0] = acc[0] + core.sum(dim=(2, 3), keepdim=True)
                acc[1] = acc[1] + core.pow(2).sum(dim=(2, 3), keepdim=True)
                acc[2] = acc[2] + core.shape[-1] * core.shape[-2]
            if progress:
                progress((i + 1) / total_steps)
        stats = {}
        for t, (s1, s2, n) in sums.items():
            mean = s1 / n
            stats[t] = (mean, (s2 / n - mean.pow(2)).clamp_min(0).add(1e-5).sqrt())
        # Pass 2: stylize each tile with the shared statistics and blend the overlaps linearly.
        out = torch.zeros(1, 3, h, w)
        norm = torch.zeros(1, 1, h, w)
        for i, (y0, x0, y1, x1) in enumerate(boxes):
            piece = self._run(content[..., y0:y1, x0:x1], style, strength, stats)
            wy = _ramp(y1 - y0, overlap, y0 == 0, y1 == h)
            wx = _ramp(x1 - x0, overlap, x0 == 0, x1 == w)
            weight = (wy[:, None] * wx[None, :])[None, None]
            out[..., y0:y1, x0:x1] += piece * weight
            norm[..., y0:y1, x0:x1] += weight
            if progress:
                progress((len(boxes) + i + 1) / total_steps)
        return out / norm


class OptimisationStylizer:
    """Gatys et al.: optimise the pixels; no trained generator needed."""

    method = "optimisation"

    def __init__(
        self, encoder: Encoder, device: torch.device, *, steps: int = 200, image_size: int = 512
    ) -> None:
        self.encoder = encoder.to(device)
        self.device = device
        self.steps = steps
        self.image_size = image_size
        self.untrained = encoder.untrained
        self.model_info: dict[str, Any] = {}

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
    ) -> Image.Image:
        """Stylize at `working_size` (the longer side; at most `image_size`, its default), then
        upscale to the photo's size. `strength` blends the optimised image with the photo.
        `tile_size` is the GAN's: the whole working-size image is optimised at once."""
        _check_strength(strength)
        if any(isinstance(s, StyleStats) for s in styles):
            raise ValueError("the optimisation method needs style images, not saved statistics")
        size = min(self.image_size, working_size or self.image_size)
        small = to_tensor(resize_max_side(content, size)).to(self.device)
        style_tensors = [to_tensor(resize_max_side(s, size)).to(self.device) for s in styles]  # type: ignore[arg-type]
        with torch.enable_grad():
            result = optimise(
                self.encoder,
                small,
                style_tensors,
                list(weights) if weights else None,
                steps=self.steps,
                progress=progress,
            )
        result = strength * result + (1 - strength) * small
        full = to_tensor(content)
        if result.shape[-2:] != full.shape[-2:]:
            result = F.interpolate(result.cpu(), size=full.shape[-2:], mode="bicubic").clamp(0, 1)
        if preserve_color:
            result = preserve_colors(result.cpu(), full)
        return to_image(result)


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
