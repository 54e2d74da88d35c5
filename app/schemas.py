"""Request and response bodies, named by direction (`...Create` in, `...Public` out)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from app.tables import JobKind, JobStatus


class StylizationCreate(BaseModel):
    """The non-file fields of `POST /v1/stylizations` (the images come as multipart files)."""

    model_config = ConfigDict(extra="forbid")

    style_id: str | None = None
    strength: float = Field(default=1.0, ge=0.0, le=1.0)
    preserve_color: bool = False
    max_side: int | None = Field(default=None, ge=16)
    output_format: Literal["png", "jpeg", "webp"] = "png"
    model_id: str | None = None
    webhook_url: AnyHttpUrl | None = None


class TrainingCreate(BaseModel):
    """The non-file fields of `POST /v1/trainings` (content and style images come as files)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="model", max_length=200)
    steps: int = Field(default=1000, ge=1, le=200_000)
    image_size: int = Field(default=256, ge=32, le=1024)
    batch_size: int = Field(default=8, ge=1, le=64)
    activate: bool = False


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
    model_id: str | None
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


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
