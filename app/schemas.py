"""Request and response bodies, named by direction (`...Create` in, `...Public` out)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from app.limits import parse_rate
from app.tables import JobKind, JobStatus
from contracts import stylize, training
from contracts.images import NAME_MAX_LENGTH, NAME_MIN_LENGTH, check_name
from contracts.regions import MAX_FEATHER
from contracts.stylize import MIN_SIDE, Method

# The one name rule (styles, sets, models, trainings): 1 to 200 characters, never truncated.
Name = Annotated[
    str,
    AfterValidator(check_name),
    Field(json_schema_extra={"minLength": NAME_MIN_LENGTH, "maxLength": NAME_MAX_LENGTH}),
]


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


def _setting(api_name: str) -> Any:
    """A training setting's field: its default, bounds and help from `contracts.training`."""
    setting = training.BY_API_NAME[api_name]
    return Field(default=setting.default, ge=setting.ge, le=setting.le, description=setting.help)


class TrainingCreate(BaseModel):
    """`POST /v1/admin/trainings`: fine-tune a model on a style set: `base_model_id`, else the
    active model, else (or with `from_scratch`) a new one. A fine-tune inherits the base model's
    loss settings (`train_config`: content_taps, w_color, style_conditioned_d) unless set here.

    Without `content_set_id` the worker's `ATELIER_TRAINING_CONTENT_DIR` holds the photos. The
    settings' defaults and bounds are `contracts.training`'s, shared with `atelier train`.
    """

    model_config = ConfigDict(extra="forbid")

    name: Name = "model"
    style_set_id: str
    content_set_id: str | None = None
    base_model_id: str | None = None
    from_scratch: bool = Field(default=False, description="do not start from the active model")
    steps: int = _setting("steps")
    image_size: int = _setting("image_size")
    batch_size: int = _setting("batch_size")
    lr_g: float = _setting("lr_g")
    lr_d: float = _setting("lr_d")
    w_adv: float = _setting("w_adv")
    w_content: float = _setting("w_content")
    w_style: float = _setting("w_style")
    w_identity: float = _setting("w_identity")
    w_color: float = _setting("w_color")
    augment: str = _setting("augment")
    seed: int = _setting("seed")
    checkpoint_every: int = _setting("checkpoint_every")
    preview_every: int = _setting("preview_every")
    eval_images: int = _setting("eval_images")
    gate_content_margin: float = _setting("gate_content_margin")

    @model_validator(mode="after")
    def _one_base(self) -> "TrainingCreate":
        if self.from_scratch and self.base_model_id is not None:
            raise ValueError("give base_model_id or from_scratch, not both")
        return self

    @field_validator("augment")
    @classmethod
    def _known_augmentations(cls, value: str) -> str:
        return training.check_augment(value)


class ErrorInfo(BaseModel):
    code: str
    message: str


class ErrorPublic(BaseModel):
    error: ErrorInfo


class JobPublic(BaseModel):
    id: str
    kind: JobKind
    status: JobStatus
    progress: float = Field(description="0..1")
    percent: int
    eta_seconds: float | None = Field(description="estimated seconds left while running")
    attempts: int
    parameters: dict[str, Any]
    style_id: str | None
    style_set_id: str | None
    model_id: str | None
    progress_info: dict[str, Any] = Field(
        description="training: step, total, losses, images_per_s, eta_s, checkpoint_step, "
        "preview; video: frames_done, frames, eta_s, the finished segments"
    )
    preview_url: str | None
    result_url: str | None
    poster_url: str | None = Field(
        default=None, description="a succeeded video job: its result's first frame (JPEG)"
    )
    result_info: dict[str, Any]
    error: ErrorInfo | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    webhook_status: str | None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    next_cursor: str | None


class StyleCreditPublic(BaseModel):
    """Whose work the style is: a built-in's from the service's data file, an upload's as its
    uploader declared it (null: not declared). Every result in the style carries it."""

    title: str | None
    artist: str | None
    source_url: str | None
    licence: str | None
    declared_by: Literal["service", "uploader"] = Field(
        description="service: a built-in painting's facts; uploader: what the uploader declared"
    )


class StylePublic(BaseModel):
    id: str
    name: str
    width: int
    height: int
    image_url: str
    builtin: bool = Field(
        description="shipped with the service: every key sees it, none deletes it"
    )
    credit: StyleCreditPublic
    info: dict[str, Any] = Field(
        description="built-in: title, artist, year, movement, public_domain, source, "
        "source_url, licence"
    )
    created_at: datetime


class StylesPublic(BaseModel):
    data: list[StylePublic]


class ModelPublic(BaseModel):
    id: str
    name: str
    sha256: str
    size_bytes: int
    is_active: bool
    builtin: bool = Field(description="shipped with the code (ATELIER_BUILTIN_MODEL)")
    info: dict[str, Any]
    created_at: datetime
    training_job_id: str | None
    base_model_id: str | None
    lineage: dict[str, Any]
    evaluation: dict[str, Any]
    gate: dict[str, Any] = Field(description="{} for uploaded files (not gated)")
    contact_sheet_url: str | None


class ModelActivate(BaseModel):
    """Optional body of `POST /v1/models/{id}/activate`."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False
    reason: str | None = Field(default=None, max_length=2000)


class ActivationPublic(BaseModel):
    id: int
    action: str
    model_id: str | None
    previous_model_id: str | None
    forced: bool
    reason: str | None
    created_at: datetime


class ActivationsPublic(BaseModel):
    data: list[ActivationPublic]


class ImageSetMemberPublic(BaseModel):
    id: str
    filename: str
    sha256: str
    width: int
    height: int
    phash: str
    image_url: str
    thumbnail_url: str


class ImageSetPublic(BaseModel):
    id: str
    kind: str
    name: str
    digest: str
    image_count: int
    images: list[ImageSetMemberPublic]
    checks: list[dict[str, Any]] = Field(description="data-check findings: code, message, images")
    created_at: datetime
    updated_at: datetime


class ImageSetsPublic(BaseModel):
    data: list[ImageSetPublic]


class ModelsPublic(BaseModel):
    data: list[ModelPublic]


class CampaignPublic(BaseModel):
    id: str
    name: str
    status: JobStatus = Field(
        description="queued or running while any child is; then succeeded (all did), failed "
        "(any failed) or canceled"
    )
    progress: float = Field(description="0..1 over all children")
    percent: int
    total: int
    counts: dict[str, int] = Field(description="children by status")
    parameters: dict[str, Any]
    children: list[JobPublic]
    archive_url: str
    created_at: datetime
    finished_at: datetime | None
    webhook_status: str | None


def _check_rate(value: str) -> str:
    parse_rate(value)  # ValueError: not in the `limits` notation
    return value


# A rate in the `limits` notation: "60/minute", "1000/hour"; "" for no rate limit.
RateLimit = Annotated[
    str, AfterValidator(_check_rate), Field(max_length=64, examples=["60/minute"])
]


class KeyLimitsUpdate(BaseModel):
    """A key's own limits; a field given as null goes back to the settings' default."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: RateLimit | None = None
    max_active_jobs: int | None = Field(default=None, ge=0, description="0: no limit")
    daily_job_quota: int | None = Field(default=None, ge=0, description="0: no limit")


class KeyCreate(KeyLimitsUpdate):
    name: Name
    is_admin: bool = False


class KeyLimitsPublic(BaseModel):
    rate_limit: str
    max_active_jobs: int
    daily_job_quota: int


class KeyAdminPublic(BaseModel):
    id: int
    name: str
    prefix: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None
    own_limits: KeyLimitsUpdate = Field(description="set by an admin; null: the default")
    limits: KeyLimitsPublic = Field(description="in force: its own, else the defaults")


class KeyCreated(KeyAdminPublic):
    key: str = Field(description="the secret, shown only in this answer")


class KeysAdminPublic(BaseModel):
    data: list[KeyAdminPublic]


class KeyDataDeleted(BaseModel):
    jobs_expired: int
    files_deleted: int
