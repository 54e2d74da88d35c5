"""Protected regions (`mask`, `keep_boxes`, `feather`) and ad formats (`output_size`, `crop`) of a
stylization, checked where the request arrives: a bad one is a 422 with a code, nothing stored."""

import io
from typing import Any

from PIL import Image

from app.api.errors import APIError
from app.errors import DomainError, TooLarge
from app.images import CleanImage, validate_image
from app.schemas import StylizationCreate
from contracts.regions import MASK_KEEP_BELOW, RegionError, parse_crop, parse_keep_boxes, parse_size
from contracts.stylize import MIN_SIDE


def region_parameters(params: StylizationCreate, *, max_side: int) -> dict[str, Any]:
    """The parsed regions and format as the job records them (lists, not JSON text)."""
    try:
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
    }


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
