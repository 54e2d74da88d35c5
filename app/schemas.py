"""Request and response bodies, named by direction (`...Create` in, `...Public` out)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from app.tables import JobKind, JobStatus


class StylizationCreate(BaseModel):
    """The non-file fields of `POST /v1/stylizations` (the images come as multipart files)."""

    model_config = ConfigDict(extra="forbid")

    style_id: str | None = None
    style_set_id: str | None = None
    style_set_image_id: str | None = Field(
        default=None, description="one painting of a style set (its `images[].id`)"
    )
    strength: float = Field(default=1.0, ge=0.0, le=1.0)
    preserve_color: bool = False
    max_side: int | None = Field(default=None, ge=16)
    output_format: Literal["png", "jpeg", "webp"] = "png"
    model_id: str | None = None
    webhook_url: AnyHttpUrl | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="default: random")


class TrainingCreate(BaseModel):
    """`POST /v1/admin/trainings`: fine-tune `base_model_id` (or train from scratch) on a style set.

    Without `content_set_id` the worker's `ATELIER_TRAINING_CONTENT_DIR` holds the photos.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="model", max_length=200)
    style_set_id: str
    content_set_id: str | None = None
    base_model_id: str | None = None
    steps: int = Field(default=2000, ge=1, le=200_000)
    image_size: int = Field(default=256, ge=32, le=1024)
    batch_size: int = Field(default=8, ge=1, le=64)
    lr_g: float = Field(default=2e-4, ge=0, le=1)
    lr_d: float = Field(default=2e-4, ge=0, le=1)
    w_adv: float = Field(default=0.5, ge=0)
    w_content: float = Field(default=1.0, ge=0)
    w_style: float = Field(default=1.0, ge=0)
    w_identity: float = Field(default=1.0, ge=0)
    augment: str = Field(default="color,translation,cutout", pattern=r"^[a-z,]*$")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    checkpoint_every: int = Field(default=250, ge=1)
    preview_every: int = Field(default=250, ge=1, description="preview + guard rails every N")
    eval_images: int = Field(default=2, ge=1, le=16, description="held-out photos to score")
    gate_content_margin: float = Field(
        default=0.05, ge=0, le=1, description="content score may be this much worse (fraction)"
    )


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
        description="training: step, total, losses, images_per_s, eta_s, checkpoint_step, preview"
    )
    preview_url: str | None
    result_url: str | None
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


class StylePublic(BaseModel):
    id: str
    name: str
    width: int
    height: int
    image_url: str
    created_at: datetime


class StylesPublic(BaseModel):
    data: list[StylePublic]


class ModelPublic(BaseModel):
    id: str
    name: str
    sha256: str
    size_bytes: int
    is_active: bool
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
