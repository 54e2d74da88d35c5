"""Jobs as the API shows them: one job, a page of jobs, and a campaign (a batch of child jobs
shown with its children)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.errors import ErrorInfo
from app.tables import JobKind, JobStatus


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
