"""Protected regions (`mask`, `keep_boxes`, `feather`) and ad formats (`output_size`, `crop`) of a
stylization, checked where the request arrives: a bad one is a 422 with a code, nothing stored."""

import io
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from app import crud
from app.api.errors import APIError
from app.credits import style_credit
from app.errors import DomainError, TooLarge
from app.images import CleanImage, validate_image
from app.schemas import StylizationCreate
from app.tables import ApiKey
from contracts.credits import StyleCredit
from contracts.regions import (
    MASK_KEEP_BELOW,
    RegionError,
    parse_crop,
    parse_keep_boxes,
    parse_regions,
    parse_size,
)
from contracts.stylize import MIN_SIDE


def region_parameters(
    params: StylizationCreate, *, max_side: int, masks: int = 0
) -> dict[str, Any]:
    """The parsed regions and format as the job records them (lists, not JSON text); `masks`:
    how many `masks` files came for the styled `regions`."""
    try:
        regions = parse_regions(params.regions, masks=masks) if params.regions else None
        keep_boxes = parse_keep_boxes(params.keep_boxes) if params.keep_boxes else None
        size = (
            parse_size(params.output_size, min_side=MIN_SIDE, max_side=max_side)
            if (params.output_size)
            else None
        )
        crop = parse_crop(params.crop) if params.crop else None
    except RegionError as exc:
        raise APIError(422, exc.code, str(exc)) from exc
    if crop is not None and size is None:
        raise APIError(422, "invalid_parameter", "crop: only with output_size")
    return {
        "keep_boxes": [list(b) for b in keep_boxes] if keep_boxes else None,
        "feather": params.feather,
        "output_size": list(size) if size else None,
        "crop": list(crop) if crop else None,
        "regions": [r.as_dict() for r in regions] if regions else None,
    }


def region_styles(
    session: Session, key: ApiKey, regions: list[dict[str, Any]]
) -> list[StyleCredit]:
    """Each styled region's stored style image and credit, recorded beside its `style_id`
    (404 `style_not_found` for a style that does not exist or is not the key's); returns the
    credits of the styles the regions paint, in order, so that the result credits them too.
    (The credit beside the image names that image's C2PA ingredient: two styles may share a
    credit, so the job's `style_credits`, each credit once, cannot say which image is whose.)"""
    credits: list[StyleCredit] = []
    for i, region in enumerate(regions):
        if region.get("style_id") is None:
            continue
        style = crud.get_style(session, style_id=region["style_id"], viewer=key)
        if style is None:
            raise APIError(404, "style_not_found", f"regions[{i}]: no style {region['style_id']}")
        credit = style_credit(style)
        region["style_sha256"] = style.image_sha256
        region["style_credit"] = credit.as_dict()
        credits.append(credit)
    return credits


def check_region_mask(
    data: bytes | bytearray, index: int, *, max_pixels: int, max_upload_side: int
) -> CleanImage:
    """One of the `masks` files (white = the region), any size: it is scaled to the photo."""
    try:
        return validate_image(
            data, field=f"masks[{index}]", max_pixels=max_pixels, max_upload_side=max_upload_side
        )
    except TooLarge:
        raise
    except DomainError as exc:
        raise APIError(422, "invalid_mask", f"{exc.message} ({exc.code})") from exc


def check_mask(data: bytes | bytearray, *, max_pixels: int, max_upload_side: int) -> CleanImage:
    """A mask image (white = stylize, black = keep), any size: an image that keeps something
    and stylizes something, else 422 `invalid_mask` / `mask_all_black`."""
    try:
        mask = validate_image(
            data, field="mask", max_pixels=max_pixels, max_upload_side=max_upload_side
        )
    except TooLarge:
        raise
    except DomainError as exc:
        raise APIError(422, "invalid_mask", f"{exc.message} ({exc.code})") from exc
    extrema = Image.open(io.BytesIO(mask.data)).convert("L").getextrema()
    if int(extrema[1]) < MASK_KEEP_BELOW:  # type: ignore[arg-type]  # (min, max) for "L"
        raise APIError(
            422, "mask_all_black", "the mask keeps the whole photo: white marks what to stylize"
        )
    return mask
