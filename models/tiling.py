"""Big photos in overlapping tiles that share the whole photo's content statistics.

Two passes: the encoder over every tile gives each tap's mean and std over the whole photo
(accumulated over the tiles' cores, each pixel counted once), then every tile is rendered with
those statistics and the overlaps are blended with linear ramps. Every tile is normalised alike,
so no seam shows, and memory is bounded by the tile, not the photo.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

# Every encoder tap the generator uses is a multiple of this stride.
PAD_MULTIPLE = 16
Stats = dict[str, tuple[torch.Tensor, torch.Tensor]]
# Pass 1 keeps the tiles' taps for pass 2 up to this size (fp16): 4096x2731 in 1024 px tiles
# needs about 360 MiB with the shipped model.
KEEP_FEATURES_BYTES = 768 * 2**20


def pad_to_multiple(x: torch.Tensor, multiple: int = PAD_MULTIPLE) -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom/right so that every encoder stride divides it exactly."""
    h, w = x.shape[-2:]
    ph = max(math.ceil(h / multiple) * multiple, 2 * multiple) - h
    pw = max(math.ceil(w / multiple) * multiple, 2 * multiple) - w
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, [0, pw, 0, ph], mode=mode)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering [0, length) with at least `overlap` shared."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (n - 1)
    return [round(i * step) for i in range(n)]


def ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """Blend weights along one axis of a tile: linear ramps where it overlaps a neighbour."""
    w = torch.ones(length)
    edge = torch.linspace(0, 1, overlap + 2)[1:-1]
    if not at_start:
        w[:overlap] = edge
    if not at_end:
        w[-overlap:] = edge.flip(0)
    return w


def stylize_tiled(
    content: torch.Tensor,
    tile: int,
    overlap: int,
    *,
    encode: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    strides: dict[str, int],
    render: Callable[[torch.Tensor, Stats], torch.Tensor],
    render_features: Callable[[dict[str, torch.Tensor], Stats], torch.Tensor] | None = None,
    keep_bytes: int = KEEP_FEATURES_BYTES,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """(1, 3, H, W) -> (1, 3, H, W): `encode` a tile to its taps (it pads to PAD_MULTIPLE),
    `render` a tile with given statistics to its picture. With `render_features` (taps and
    statistics to the padded tile's picture), pass 1 keeps every tile's taps in fp16 when they
    fit in `keep_bytes`, and pass 2 renders them with no second encoder pass (the encoder is
    about half of a tile's time)."""
    h, w = content.shape[-2:]
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    boxes = [(y, x, min(y + tile, h), min(x + tile, w)) for y in ys for x in xs]
    total_steps = 2 * len(boxes)
    # Pass 1: content statistics of the whole photo, accumulated over the tiles' cores (each
    # pixel counted once), so every tile is normalised alike.
    sums: dict[str, list[torch.Tensor]] = {}
    kept: list[dict[str, torch.Tensor]] | None = [] if render_features is not None else None
    for i, (y0, x0, y1, x1) in enumerate(boxes):
        cy0 = 0 if y0 == 0 else y0 + overlap // 2
        cx0 = 0 if x0 == 0 else x0 + overlap // 2
        cy1 = h if y1 == h else y1 - overlap // 2
        cx1 = w if x1 == w else x1 - overlap // 2
        feats = encode(content[..., y0:y1, x0:x1])
        for t, f in feats.items():
            s = strides[t]
            core = f.float()[
                ...,
                (cy0 - y0) // s : max((cy1 - y0) // s, (cy0 - y0) // s + 1),
                (cx0 - x0) // s : max((cx1 - x0) // s, (cx0 - x0) // s + 1),
            ]
            acc = sums.setdefault(t, [torch.zeros(()), torch.zeros(()), torch.zeros(())])
            acc[0] = acc[0] + core.sum(dim=(2, 3), keepdim=True)
            acc[1] = acc[1] + core.pow(2).sum(dim=(2, 3), keepdim=True)
            acc[2] = acc[2] + core.shape[-1] * core.shape[-2]
        if kept is not None:
            tile_bytes = sum(f.numel() for f in feats.values()) * 2
            kept = kept if tile_bytes * len(boxes) <= keep_bytes else None
        if kept is not None:
            kept.append({t: f.to(torch.float16) for t, f in feats.items()})
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
        if kept is not None and render_features is not None:
            feats = {t: f.float() for t, f in kept[i].items()}
            kept[i] = {}  # let the tile's taps go as soon as they are drawn
            piece = render_features(feats, stats)[..., : y1 - y0, : x1 - x0]
        else:
            piece = render(content[..., y0:y1, x0:x1], stats)
        wy = ramp(y1 - y0, overlap, y0 == 0, y1 == h)
        wx = ramp(x1 - x0, overlap, x0 == 0, x1 == w)
        weight = (wy[:, None] * wx[None, :])[None, None]
        out[..., y0:y1, x0:x1] += piece * weight
        norm[..., y0:y1, x0:x1] += weight
        if progress:
            progress((len(boxes) + i + 1) / total_steps)
    return out / norm
