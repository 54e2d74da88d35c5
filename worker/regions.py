"""Ad formats and protected regions, applied around the stylizer.

Before: the photo is cropped to the output size's aspect ratio (centred in the job's `crop`
window, else in the photo) and scaled to that exact size. After: the kept regions (`keep_boxes`
and the `mask`'s black area, drawn in the uploaded photo's coordinates) are blended back from the
photo at the result's own resolution, with a `feather`-pixel soft edge that lies outside the kept
region, so a kept pixel is the photo's pixel exactly.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from contracts.regions import MASK_KEEP_BELOW, crop_window
from worker.runtime import Runtime

KEEP, STYLIZE = 0, 255  # alpha of the stylized image in the blend


@dataclass(frozen=True)
class Framed:
    """The photo as the stylizer gets it, and where it came from in the uploaded photo."""

    photo: Image.Image  # cropped and scaled to the output size (or the upload itself)
    upload_size: tuple[int, int]
    window: tuple[int, int, int, int]  # left, top, right, bottom in the uploaded photo


def frame(upload: Image.Image, params: dict[str, Any]) -> Framed:
    """Crop and scale the uploaded photo to the job's `output_size`, if it names one."""
    size = params.get("output_size")
    if not size:
        return Framed(upload, upload.size, (0, 0, upload.width, upload.height))
    width, height = int(size[0]), int(size[1])
    crop = params.get("crop")
    window = crop_window(upload.size, (width, height), tuple(crop) if crop else None)
    photo = upload.resize((width, height), Image.Resampling.LANCZOS, box=window)
    return Framed(photo, upload.size, window)


def keep_alpha(rt: Runtime, params: dict[str, Any], framed: Framed) -> Image.Image | None:
    """The blend's alpha at the framed photo's size (0 = the photo's pixel, 255 = stylized), or
    None when the job keeps nothing."""
    boxes = params.get("keep_boxes") or []
    mask_key = params.get("mask_sha256")
    if not boxes and not mask_key:
        return None
    uw, uh = framed.upload_size
    alpha = Image.new("L", (uw, uh), STYLIZE)
    if mask_key:
        mask = Image.open(io.BytesIO(rt.storage.get(mask_key))).convert("L")
        mask = mask.resize((uw, uh), Image.Resampling.BILINEAR)
        alpha = mask.point(lambda v: KEEP if v < MASK_KEEP_BELOW else STYLIZE)
    draw = ImageDraw.Draw(alpha)
    for x0, y0, x1, y1 in boxes:
        # Whole pixels the box touches: a kept region is never a pixel short.
        left, top = int(x0 * uw), int(y0 * uh)
        right, bottom = -int(-x1 * uw), -int(-y1 * uh)
        draw.rectangle((left, top, right - 1, bottom - 1), fill=KEEP)
    if framed.photo.size != framed.upload_size or framed.window != (0, 0, uw, uh):
        alpha = alpha.resize(framed.photo.size, Image.Resampling.BILINEAR, box=framed.window)
        alpha = alpha.point(lambda v: KEEP if v < MASK_KEEP_BELOW else STYLIZE)
    return feathered(alpha, int(params.get("feather") or 0))


def feathered(alpha: Image.Image, radius: int) -> Image.Image:
    """A soft edge of `radius` pixels outside the kept area: grow the kept area by the radius,
    then box-blur by it. A box blur of radius r averages 2r+1 pixels, so a pixel of the original
    kept area only sees kept pixels and stays exactly 0."""
    if radius <= 0:
        return alpha
    grown = alpha.filter(ImageFilter.BoxBlur(radius)).point(
        lambda v: STYLIZE if v == STYLIZE else KEEP
    )
    return grown.filter(ImageFilter.BoxBlur(radius))


def protect(
    rt: Runtime, params: dict[str, Any], framed: Framed, stylized: Image.Image
) -> Image.Image:
    """The stylized photo with the kept regions blended back from the (framed) photo."""
    alpha = keep_alpha(rt, params, framed)
    if alpha is None:
        return stylized
    if stylized.size != framed.photo.size:
        stylized = stylized.resize(framed.photo.size, Image.Resampling.LANCZOS)
    return Image.composite(stylized.convert("RGB"), framed.photo, alpha)


# Regions with a style each (issue 21): the soft edge between two styles when the job names no
# `feather`, in pixels (a hard seam between two paintings shows as a line).
REGION_FEATHER = 8


def region_alpha(rt: Runtime, region: dict[str, Any], framed: Framed, feather: int) -> Image.Image:
    """Where a region lies at the framed photo's size: 255 inside, 0 outside, with a soft edge
    of `feather` pixels across its border. A mask of another size than the photo is scaled."""
    uw, uh = framed.upload_size
    if region.get("box"):
        x0, y0, x1, y1 = region["box"]
        inside = Image.new("L", (uw, uh), 0)
        ImageDraw.Draw(inside).rectangle(
            (int(x0 * uw), int(y0 * uh), -int(-x1 * uw) - 1, -int(-y1 * uh) - 1), fill=255
        )
    else:  # a mask: white = the region
        mask = Image.open(io.BytesIO(rt.storage.get(region["mask_sha256"]))).convert("L")
        inside = mask.resize((uw, uh), Image.Resampling.BILINEAR)
        inside = inside.point(lambda v: 0 if v < MASK_KEEP_BELOW else 255)
    if framed.photo.size != framed.upload_size or framed.window != (0, 0, uw, uh):
        inside = inside.resize(framed.photo.size, Image.Resampling.BILINEAR, box=framed.window)
    if feather <= 0:
        return inside
    return inside.filter(ImageFilter.BoxBlur(feather))


def region_styles(params: dict[str, Any]) -> set[str]:
    """The distinct styles a job's `regions` paint (each one pass of the model)."""
    return {r["style_sha256"] for r in params.get("regions") or [] if r.get("style_sha256")}


def paint_regions(
    rt: Runtime,
    params: dict[str, Any],
    framed: Framed,
    result: Image.Image,
    stylize: Callable[[str], Image.Image],
) -> Image.Image:
    """The main style's result with each region laid over it in order (later ones win): a
    region's style painted by `stylize(style_sha256)`, once per distinct style, or the photo
    where a region is kept."""
    entries = params.get("regions") or []
    if not entries:
        return result
    feather = int(params.get("feather") or REGION_FEATHER)
    painted: dict[str, Image.Image] = {}
    out = result.convert("RGB")
    if out.size != framed.photo.size:
        out = out.resize(framed.photo.size, Image.Resampling.LANCZOS)
    for region in entries:
        key = region.get("style_sha256")
        if key is None:
            layer = framed.photo
        else:
            if key not in painted:
                painted[key] = stylize(key).convert("RGB").resize(framed.photo.size)
            layer = painted[key]
        out = Image.composite(layer, out, region_alpha(rt, region, framed, feather))
    return out
