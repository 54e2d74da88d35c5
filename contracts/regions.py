"""Protected regions and ad-format crops: the geometry the API checks and the worker applies.

Boxes and crop windows are in relative coordinates of the uploaded photo, `[x0, y0, x1, y1]`
with 0 <= x0 < x1 <= 1 (the same for y), so they do not depend on the photo's resolution.
An output size is `WIDTHxHEIGHT` in pixels; the ad formats are named sizes.
"""

import json
import re
from typing import Any

Box = tuple[float, float, float, float]  # x0, y0, x1, y1, relative

# Ad formats (the page's presets; any other `WxH` is a custom size).
AD_FORMATS: dict[str, tuple[int, int]] = {
    "1080x1080": (1080, 1080),
    "1200x628": (1200, 628),
    "1080x1920": (1080, 1920),
}
MAX_KEEP_BOXES = 32
# Pixels of soft edge around a kept region (a box blur this wide still tells 0 from 255).
MAX_FEATHER = 200
MASK_KEEP_BELOW = 128  # a mask's pixels darker than mid-grey are kept photographic


class RegionError(ValueError):
    """A box, mask or size that cannot be applied; `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_box(value: Any, what: str) -> Box:
    """One relative box, or RegionError (`invalid_box`, or `box_outside` past the photo)."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise RegionError("invalid_box", f"{what}: [x0, y0, x1, y1] of numbers is required")
    x0, y0, x1, y1 = (float(v) for v in value)
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise RegionError(
            "box_outside",
            f"{what}: {list(value)} is not inside the photo (0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1)",
        )
    return (x0, y0, x1, y1)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegionError("invalid_box", f"{what}: not JSON ({exc.msg})") from exc


def parse_keep_boxes(text: str) -> list[Box]:
    """`keep_boxes`: a JSON list of relative boxes (at most MAX_KEEP_BOXES)."""
    value = _json(text, "keep_boxes")
    if not isinstance(value, list) or not value:
        raise RegionError("invalid_box", "keep_boxes: a non-empty JSON list of boxes is required")
    if len(value) > MAX_KEEP_BOXES:
        raise RegionError("invalid_box", f"keep_boxes: at most {MAX_KEEP_BOXES} boxes")
    return [parse_box(box, f"keep_boxes[{i}]") for i, box in enumerate(value)]


def parse_crop(text: str) -> Box:
    """`crop`: one relative box as JSON."""
    return parse_box(_json(text, "crop"), "crop")


def parse_size(text: str, *, min_side: int, max_side: int) -> tuple[int, int]:
    """An output size: an ad format's name or a custom `WIDTHxHEIGHT`."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*", text)
    if match is None:
        raise RegionError("invalid_size", f"output_size: WIDTHxHEIGHT is required, not {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if not (min_side <= width <= max_side and min_side <= height <= max_side):
        raise RegionError(
            "invalid_size", f"output_size: each side from {min_side} to {max_side} pixels"
        )
    return width, height


def crop_window(
    photo: tuple[int, int], size: tuple[int, int], crop: Box | None
) -> tuple[int, int, int, int]:
    """The pixel window of the photo that becomes an output of `size`: the largest window of
    the output's aspect ratio centred in `crop` (the whole photo when absent), so the photo is
    cropped and scaled, never stretched. Returns (left, top, right, bottom)."""
    pw, ph = photo
    x0, y0, x1, y1 = crop if crop is not None else (0.0, 0.0, 1.0, 1.0)
    left, top, right, bottom = x0 * pw, y0 * ph, x1 * pw, y1 * ph
    box_w, box_h = right - left, bottom - top
    aspect = size[0] / size[1]
    w, h = (box_h * aspect, box_h) if box_w / box_h > aspect else (box_w, box_w / aspect)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    w, h = max(1, round(w)), max(1, round(h))
    left_px = min(max(0, round(cx - w / 2)), pw - w)
    top_px = min(max(0, round(cy - h / 2)), ph - h)
    return (left_px, top_px, left_px + w, top_px + h)


# Regions with a style each (issue 21): `regions` is a JSON list of at most MAX_REGIONS
# entries, each a `box` or a `mask` (an index into the uploaded `masks` files) with a
# `style_id` or `"keep": true`. Later entries win where they overlap; the rest of the picture
# takes the job's main style. Each distinct style costs one more pass of the model.
MAX_REGIONS = 4


class Region:
    """One parsed entry: where (a box, or a mask's index) and what (a style id, or kept)."""

    __slots__ = ("box", "mask", "style_id")

    def __init__(self, box: Box | None, mask: int | None, style_id: str | None) -> None:
        self.box, self.mask, self.style_id = box, mask, style_id

    @property
    def keep(self) -> bool:
        return self.style_id is None

    def as_dict(self) -> dict[str, Any]:
        where: dict[str, Any] = {"box": list(self.box)} if self.box else {"mask": self.mask}
        return {**where, **({"keep": True} if self.keep else {"style_id": self.style_id})}


def parse_regions(text: str, *, masks: int) -> list[Region]:
    """`regions` as JSON text, given how many `masks` files came with it; RegionError with
    `invalid_regions` (not JSON, not a list of entries, an entry neither or both of box and
    mask, neither or both of style_id and keep), `too_many_regions`, `region_mask_missing` (an
    index with no file), or a box's own codes."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegionError("invalid_regions", f"regions: not JSON ({exc.msg})") from exc
    if not isinstance(value, list) or not value:
        raise RegionError("invalid_regions", "regions: a non-empty JSON list of entries")
    if len(value) > MAX_REGIONS:
        raise RegionError(
            "too_many_regions", f"regions: at most {MAX_REGIONS} entries, not {len(value)}"
        )
    return [_region(entry, f"regions[{i}]", masks) for i, entry in enumerate(value)]


def _region(entry: Any, what: str, masks: int) -> Region:
    if not isinstance(entry, dict) or set(entry) - {"box", "mask", "style_id", "keep"}:
        raise RegionError(
            "invalid_regions", f"{what}: an object of box or mask, and style_id or keep"
        )
    if ("box" in entry) == ("mask" in entry):
        raise RegionError("invalid_regions", f"{what}: give one of box and mask")
    keep = entry.get("keep", False)
    style_id = entry.get("style_id")
    if keep is not True and keep is not False or (keep is True) == (style_id is not None):
        raise RegionError("invalid_regions", f'{what}: give one of style_id and "keep": true')
    if style_id is not None and (not isinstance(style_id, str) or not style_id):
        raise RegionError("invalid_regions", f"{what}: style_id is a style's id")
    if "box" in entry:
        return Region(parse_box(entry["box"], f"{what}.box"), None, style_id)
    index = entry["mask"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise RegionError("invalid_regions", f"{what}.mask: an index into the masks files")
    if index >= masks:
        raise RegionError(
            "region_mask_missing", f"{what}.mask: {index}, but {masks} masks file(s) came"
        )
    return Region(None, index, style_id)
