"""The body of a stylization request: the style, the method and every control over the result.

A campaign takes the same fields for each of its photos (`POST /v1/campaigns`).
"""

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from contracts import stylize
from contracts.regions import MAX_FEATHER
from contracts.stylize import MIN_SIDE, Method


class StylizationCreate(BaseModel):
    """The non-file fields of `POST /v1/stylizations` (the images come as multipart files)."""

    model_config = ConfigDict(extra="forbid")

    style_id: str | None = None
    style_set_id: str | None = None
    method: Method = Field(
        default="gan",
        description="gan: the job's model_id or the active model (fast); optimisation: no "
        "model, slow, highest fidelity",
    )
    style_set_image_id: str | None = Field(
        default=None, description="one painting of a style set (its `images[].id`)"
    )
    strength: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="shorthand: moves colour and texture together (0 = the photo); not with "
        "color_strength or texture_strength",
    )
    preserve_color: bool = Field(
        default=False,
        description="shorthand for color_strength=0 (the photo's colours); not with "
        "color_strength or texture_strength",
    )
    color_strength: float | None = Field(
        default=None,
        ge=stylize.CONTROL_MIN,
        le=stylize.CONTROL_MAX,
        description="how far the colours move to the painting's palette (0: the photo's, "
        f"1: the painting's); with only texture_strength given: {stylize.COLOR_STRENGTH_DEFAULT}",
    )
    texture_strength: float | None = Field(
        default=None,
        ge=stylize.CONTROL_MIN,
        le=stylize.CONTROL_MAX,
        description="how much of the style's marks are kept (0: the photo's surfaces, 1: all); "
        f"with only color_strength given: {stylize.TEXTURE_STRENGTH_DEFAULT}",
    )
    stroke_scale: float | None = Field(
        default=None,
        ge=stylize.STROKE_SCALE_MIN,
        le=stylize.STROKE_SCALE_MAX,
        description="GAN: the size of the style's marks relative to the picture, the same at "
        f"any output size ({stylize.STROKE_SCALE_DEFAULT}: the look of a "
        f"{stylize.STROKE_REFERENCE_SIDE} px photo; 2: marks twice as large); default: the marks "
        "at the model's own size in pixels, smaller on a larger photo",
    )
    tile_size: int | None = Field(
        default=None,
        ge=MIN_SIDE,
        description="GAN: the largest side processed in one pass; a larger photo is processed "
        "in overlapping tiles (default: ATELIER_DEFAULT_TILE_SIZE). The result has the photo's "
        "size.",
    )
    working_size: int | None = Field(
        default=None,
        ge=MIN_SIDE,
        description="optimisation method: the side it works at, at most (and by default) "
        "ATELIER_OPTIMISATION_SIZE; the result is upscaled to the photo's size",
    )
    max_side: int | None = Field(
        default=None,
        ge=MIN_SIDE,
        description="deprecated (one release): sets tile_size and working_size both",
        json_schema_extra={"deprecated": True},
    )
    output_format: Literal["png", "jpeg", "webp"] = "png"
    model_id: str | None = None
    webhook_url: AnyHttpUrl | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="default: random")
    # Protected regions and ad formats (contracts.regions): relative coordinates of the photo.
    keep_boxes: str | None = Field(
        default=None,
        description="JSON list of [x0, y0, x1, y1] (0..1) regions kept photographic, e.g. "
        '"[[0, 0, 0.5, 1]]"; with a `mask` file (white = stylize, black = keep) both are kept',
    )
    feather: int = Field(
        default=0, ge=0, le=MAX_FEATHER, description="soft edge around kept regions, pixels"
    )
    output_size: str | None = Field(
        default=None,
        description="1080x1080, 1200x628, 1080x1920 or any WIDTHxHEIGHT: the result's exact "
        "size (the photo is cropped to its aspect ratio, then scaled); default: the photo's",
    )
    regions: str | None = Field(
        default=None,
        description="JSON list of up to 4 regions, each a `box` [x0, y0, x1, y1] (0..1) or a "
        "`mask` (an index into the `masks` files; white = the region) with a `style_id` or "
        '`"keep": true`, e.g. \'[{"box": [0, 0, 0.5, 1], "style_id": "..."}]\'; later '
        "entries win, edges are feathered (`feather`, else 8 px), the rest takes the main style",
    )
    crop: str | None = Field(
        default=None,
        description="JSON [x0, y0, x1, y1] (0..1): where to crop for output_size (the largest "
        "window of its aspect ratio centred there); default: the centre",
    )

    @model_validator(mode="after")
    def _old_max_side(self) -> "StylizationCreate":
        """The old `max_side` meant both sizes: it sets them, unless they are given too."""
        if self.max_side is not None:
            if self.tile_size is not None or self.working_size is not None:
                raise ValueError(
                    "max_side is the old name of tile_size and working_size: give those"
                )
            self.tile_size = self.working_size = self.max_side
        return self

    @model_validator(mode="after")
    def _shorthands_or_controls(self) -> "StylizationCreate":
        stylize.resolve_controls(
            self.strength, self.preserve_color, self.color_strength, self.texture_strength
        )
        return self

    @model_validator(mode="after")
    def _model_needs_gan(self) -> "StylizationCreate":
        if self.method == "optimisation" and self.model_id is not None:
            raise ValueError("model_id names a GAN model: the optimisation method uses none")
        return self
