"""Big photos in overlapping tiles that share the whole photo's content statistics.

Two passes: the encoder over every tile gives each tap's mean and std over the whole photo
(accumulated over the tiles' cores, each pixel counted once), then every tile is rendered with
those statistics and neighbours are cross-faded in the middle of what they share. Every tile is
normalised alike and starts on the encoder's stride grid, and a tile's edge, where its picture
is not the whole photo's, is never shown: so no seam shows, and memory is bounded by the tile,
not the photo. A photo stylized in one pass is one tile. Every photo is stylized with a bleed,
as print calls the picture that runs past the trim: BLEED mirrored pixels at its left and right,
cut off after, so that the edges where the generator paints a dark band are not the picture's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise

import torch
import torch.nn.functional as F

# Every encoder tap the generator uses is a multiple of this stride.
PAD_MULTIPLE = 16
Stats = dict[str, tuple[torch.Tensor, torch.Tensor]]
# Pass 1 keeps the tiles' taps for pass 2 up to this size (fp16): 4096x2731 in 1024 px tiles
# needs about 360 MiB with the shipped model.
KEEP_FEATURES_BYTES = 768 * 2**20
# Neighbouring tiles are cross-faded over this many pixels in the middle of what they share.
BLEND_WIDTH = 32
# What neighbouring tiles share: 96 px at each tile's edge, where its picture is not the whole
# photo's (see ramp), and the cross-fade between. Tiles of 1,024 px faded in over their outer
# 64 px, starting off the stride grid, left a band of 20-26/255 against the untiled picture at
# 1680x1050 to 4096x2731 (shipped model, la_muse); now the worst 16 px band is 2-4/255.
TILE_OVERLAP = 2 * 96 + BLEND_WIDTH


# The bleed, (rows, columns) at each end: every photo is stylized inside this many mirrored
# pixels, cut off after. Without it the generator paints a dark band 4-8 px wide along the left
# edge of its input, and often a fainter one at the right, where the encoder's zero padding
# meets it (the mean luma of the outer 6 px against the inside at 640 px, the shipped v4,
# la_muse: avril 74 / 103 with no bleed, 86 with 8 px, 100 with 16; chicago 80 / 101, 95, 101;
# docs/video_log.md). Its top and bottom edges show none, so the rows get no bleed, for half
# the pixels (on 24 val pairs at 512 px, the mean |outer 6 px - the next 18 px| of luma was
# top 5.5, bottom 5.4, left 43.0, right 9.3 without a bleed). Multiples of PAD_MULTIPLE, so the
# picture keeps its place on the encoder's stride grid.
Bleed = tuple[int, int]
BLEED: Bleed = (0, 16)


def bled_side(side: int, bleed: int) -> int:
    """A side with `bleed` at both ends, made up to a multiple of PAD_MULTIPLE (and at least two
    of them) at the far end: the length the network sees."""
    return max(math.ceil((side + 2 * bleed) / PAD_MULTIPLE) * PAD_MULTIPLE, 2 * PAD_MULTIPLE)


def bled_shape(h: int, w: int, bleed: Bleed = BLEED) -> tuple[int, int]:
    """(height, width) of an h x w photo with its bleed."""
    return bled_side(h, bleed[0]), bled_side(w, bleed[1])


def mirrored(start: int, stop: int, side: int) -> torch.Tensor:
    """Positions start..stop-1 on a line of `side` pixels, those outside it mirrored about its
    end pixels (not repeating them, as F.pad's "reflect"), as often as a short line needs."""
    i = torch.arange(start, stop)
    if side == 1:
        return torch.zeros_like(i)
    period = 2 * (side - 1)
    i = i.remainder(period)
    return torch.where(i >= side, period - i, i)


def bled_window(
    x: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int], bleed: Bleed = BLEED
) -> torch.Tensor:
    """Rows and columns of the bled photo (`x` shifted by `bleed`, mirrored beyond its edges):
    a view where the window lies inside the photo, a copy of the window's size where not, never
    a padded copy of the whole photo (4096x2731: 134 MB). F.pad mirrors it where the photo is
    longer than its mirrored part (1 ms for a 1,024 px photo, where gathering the rows and
    columns by index took 24); a shorter photo is mirrored as often as it needs."""
    h, w = x.shape[-2:]
    (y0, y1), (x0, x1) = (r - bleed[0] for r in rows), (c - bleed[1] for c in cols)
    piece = x[..., max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    top, bottom, left, right = max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0)
    if not (top or bottom or left or right):
        return piece
    if max(top, bottom) < piece.shape[-2] and max(left, right) < piece.shape[-1]:
        return F.pad(piece, [left, right, top, bottom], mode="reflect")
    return x.index_select(-2, mirrored(y0, y1, h)).index_select(-1, mirrored(x0, x1, w))


def with_bleed(x: torch.Tensor, bleed: Bleed = BLEED) -> torch.Tensor:
    """The whole bled photo, for a photo stylized in one pass."""
    bled_h, bled_w = bled_shape(x.shape[-2], x.shape[-1], bleed)
    return bled_window(x, (0, bled_h), (0, bled_w), bleed)


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Equal tiles of at most `tile` covering [0, length), neighbours sharing at least `overlap`:
    as few tiles as cover it, each as short as covers it. Why not tiles of `tile` each: a 1,050 px
    side then took two 1,024 px tiles, about twice the work of two 640 px ones. Equal tiles share
    one input shape, so one specialised graph runs them all.

    `length` must be a multiple of PAD_MULTIPLE (a bled_side), and so are
    every start and the size where `tile` allows: the marks sit on the encoder's stride grid, and
    a tile starting off that grid paints them shifted (a 2 px shift made a whole tile differ by
    15/255 from the untiled picture), which a cross-fade shows as a ghosted band."""
    if length <= tile:
        return [(0, length)]
    for n in range(math.ceil((length - overlap) / (tile - overlap)), length // PAD_MULTIPLE + 1):
        for room in (0, PAD_MULTIPLE):  # rounding the starts to the grid may cost some overlap
            covering = (length + (n - 1) * (overlap + room)) / n
            size = min(math.ceil(covering / PAD_MULTIPLE) * PAD_MULTIPLE, length)
            step = (length - size) / (n - 1)
            starts = [round(i * step / PAD_MULTIPLE) * PAD_MULTIPLE for i in range(n)]
            if size <= tile and all(size - (b - a) >= overlap for a, b in pairwise(starts)):
                return [(start, start + size) for start in starts]
    raise ValueError(f"no tiling of {length} px in tiles of {tile} sharing {overlap}")


def ramp(length: int, before: int, after: int, width: int = BLEND_WIDTH) -> torch.Tensor:
    """Blend weights along one axis of a tile that shares `before` and `after` pixels with its
    neighbours (0 at the photo's edge): 0 over the outer part of each shared strip, a linear
    ramp of `width` across its middle, 1 inside. Why zero at the edge: a tile's picture differs
    from the whole photo's within about 100 px of its edge (the padding the network sees there;
    measured on the shipped model: 45/255 at 32 px, 7 at 80, 1.2 from 112), and a ramp across
    the whole strip averaged two such edges into a visible band."""
    w = torch.ones(length)
    for shared, flip in ((before, False), (after, True)):
        if not shared:
            continue
        r = min(width, shared)
        m = (shared - r) // 2
        side = torch.cat([torch.zeros(m), torch.linspace(0, 1, r + 2)[1:-1]])
        if flip:
            w[length - len(side) :] = side.flip(0)
        else:
            w[: len(side)] = side
    return w


def _cores(spans: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Each tile's share of a bled side of `length`, cut at the middle of every overlap: each
    pixel in one. The bleed counts, as in a photo stylized in one pass, whose statistics are
    those of its whole bled picture."""
    cuts = [0] + [(a_end + b_start) // 2 for (_, a_end), (b_start, _) in pairwise(spans)]
    return list(zip(cuts, cuts[1:] + [length], strict=True))


def _shared(spans: list[tuple[int, int]], i: int) -> tuple[int, int]:
    """Pixels tile i shares with the tile before it and with the tile after it."""
    before = spans[i - 1][1] - spans[i][0] if i > 0 else 0
    after = spans[i][1] - spans[i + 1][0] if i + 1 < len(spans) else 0
    return before, after


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
    bleed: Bleed = BLEED,
) -> torch.Tensor:
    """(1, 3, H, W) -> (1, 3, H, W): `encode` a tile of the bled photo (each side a multiple of
    PAD_MULTIPLE) to its taps, `render` one with given statistics to its picture. With
    `render_features` (taps and statistics to the tile's picture), pass 1 keeps every tile's
    taps in fp16 when they fit in `keep_bytes`, and pass 2 renders them with no second encoder
    pass (the encoder is about half of a tile's time)."""
    h, w = content.shape[-2:]
    # Tiled as an untiled photo is stylized, with its bleed, on the same grid; only the tiles at
    # the photo's edges are copies (bled_window).
    bled_h, bled_w = bled_shape(h, w, bleed)
    by, bx = bleed
    rows, cols = tile_spans(bled_h, tile, overlap), tile_spans(bled_w, tile, overlap)
    row_cores, col_cores = _cores(rows, bled_h), _cores(cols, bled_w)
    tiles = [(r, c) for r in range(len(rows)) for c in range(len(cols))]
    total_steps = 2 * len(tiles)
    # Pass 1: content statistics of the whole bled photo, accumulated over the tiles' cores (each
    # pixel counted once), so every tile is normalised alike, and as the photo in one pass.
    sums: dict[str, list[torch.Tensor]] = {}
    kept: list[dict[str, torch.Tensor]] | None = [] if render_features is not None else None
    for i, (r, c) in enumerate(tiles):
        (y0, y1), (x0, x1) = rows[r], cols[c]
        (cy0, cy1), (cx0, cx1) = row_cores[r], col_cores[c]
        feats = encode(bled_window(content, rows[r], cols[c], bleed))
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
            kept = kept if tile_bytes * len(tiles) <= keep_bytes else None
        if kept is not None:
            kept.append({t: f.to(torch.float16) for t, f in feats.items()})
        if progress:
            progress((i + 1) / total_steps)
    stats = {}
    for t, (s1, s2, n) in sums.items():
        mean = s1 / n
        stats[t] = (mean, (s2 / n - mean.pow(2)).clamp_min(0).add(1e-5).sqrt())
    # Pass 2: stylize each tile with the shared statistics and blend the overlaps. The blend
    # weights are separable (a row ramp times a column ramp) and the tiles a grid, so their sum
    # at a pixel is the row ramps' sum times the column ramps': two vectors, not a full-size
    # weight image, and the result is made in place at the photo's size.
    out = torch.zeros(1, 3, h, w)
    row_ramps = [ramp(y1 - y0, *_shared(rows, r)) for r, (y0, y1) in enumerate(rows)]
    col_ramps = [ramp(x1 - x0, *_shared(cols, c)) for c, (x0, x1) in enumerate(cols)]
    row_sum, col_sum = torch.zeros(bled_h), torch.zeros(bled_w)
    for (y0, y1), wy in zip(rows, row_ramps, strict=True):
        row_sum[y0:y1] += wy
    for (x0, x1), wx in zip(cols, col_ramps, strict=True):
        col_sum[x0:x1] += wx
    for i, (r, c) in enumerate(tiles):
        (y0, y1), (x0, x1) = rows[r], cols[c]
        if kept is not None and render_features is not None:
            feats = {t: f.float() for t, f in kept[i].items()}
            kept[i] = {}  # let the tile's taps go as soon as they are drawn
            piece = render_features(feats, stats).float().cpu()
        else:
            piece = render(bled_window(content, rows[r], cols[c], bleed), stats).float().cpu()
        # the tile's part of the photo, in the bled photo's coordinates
        ys, ye = max(y0, by), min(y1, by + h)
        xs, xe = max(x0, bx), min(x1, bx + w)
        if ys < ye and xs < xe:  # not a tile of bleed alone
            wy, wx = row_ramps[r][ys - y0 : ye - y0], col_ramps[c][xs - x0 : xe - x0]
            out[..., ys - by : ye - by, xs - bx : xe - bx].addcmul_(
                piece[..., ys - y0 : ye - y0, xs - x0 : xe - x0], wy[:, None] * wx[None, :]
            )
        if progress:
            progress((len(tiles) + i + 1) / total_steps)
    return out.div_(row_sum[by : by + h, None]).div_(col_sum[None, bx : bx + w])
