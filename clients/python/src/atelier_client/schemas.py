"""The API's response bodies as typed, immutable values, one class per OpenAPI schema.

Hand-written rather than generated (a few flat classes read better than a generator's output);
each names its schema in `SCHEMA`, and `tests/client/test_schema_agreement.py` fails when a
field here is missing from the service's schema, changes type, or may be null there but not here.
Fields the service adds later are ignored until the client learns them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]
JobKind = Literal["stylize", "train", "video"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "expired"})


@dataclass(frozen=True)
class ErrorInfo:
    """Why a job failed: a stable code and a message."""

    SCHEMA: ClassVar[str] = "ErrorInfo"

    code: str
    message: str


@dataclass(frozen=True)
class JobSnapshot:
    """A job as `GET /v1/jobs/{id}` showed it at one moment (`Job.refresh()` reads it again)."""

    SCHEMA: ClassVar[str] = "JobPublic"

    id: str
    kind: JobKind
    status: JobStatus
    progress: float  # 0..1
    percent: int
    eta_seconds: float | None  # while running
    attempts: int
    parameters: dict[str, Any]
    style_id: str | None
    style_set_id: str | None
    model_id: str | None
    progress_info: dict[str, Any]  # training: step, total, losses, images_per_s, eta_s...
    preview_url: str | None
    result_url: str | None  # the image, or a video job's MP4
    poster_url: str | None  # a succeeded video job: its result's first frame (JPEG)
    result_info: dict[str, Any]  # method, model_id, model_sha256
    error: ErrorInfo | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    webhook_status: str | None

    @property
    def finished(self) -> bool:
        """Whether the job reached a final status (it will not change again)."""
        return self.status in FINISHED


J = TypeVar("J", bound=JobSnapshot)


@dataclass(frozen=True)
class JobPage(Generic[J]):
    """One page of `GET /v1/jobs`, newest first; pass `next_cursor` back for the next."""

    SCHEMA: ClassVar[str] = "JobsPublic"

    data: list[J]
    next_cursor: str | None


@dataclass(frozen=True)
class StyleCredit:
    """Whose painting a style is (None: not declared); every result in the style carries it."""

    SCHEMA: ClassVar[str] = "StyleCreditPublic"

    title: str | None
    artist: str | None
    source_url: str | None
    licence: str | None
    declared_by: Literal["service", "uploader"]  # service: a built-in painting's facts


@dataclass(frozen=True)
class Style:
    """A saved style image (yours, or a built-in painting with `builtin` true)."""

    SCHEMA: ClassVar[str] = "StylePublic"

    id: str
    name: str
    width: int
    height: int
    image_url: str
    builtin: bool
    credit: StyleCredit
    info: dict[str, Any]  # built-in: title, artist, year, movement, public_domain, source...
    created_at: datetime


@dataclass(frozen=True)
class Campaign:
    """Many photos by one or a few styles: a child job per pair, progress over all of them."""

    SCHEMA: ClassVar[str] = "CampaignPublic"

    id: str
    name: str
    status: JobStatus
    progress: float
    percent: int
    total: int
    counts: dict[str, int]  # children by status
    parameters: dict[str, Any]
    children: list[JobSnapshot]
    archive_url: str
    created_at: datetime
    finished_at: datetime | None
    webhook_status: str | None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


@dataclass(frozen=True)
class Model:
    """A registered model version (`is_active`: the default for new GAN jobs)."""

    SCHEMA: ClassVar[str] = "ModelPublic"

    id: str
    name: str
    sha256: str
    size_bytes: int
    is_active: bool
    builtin: bool
    info: dict[str, Any]
    created_at: datetime
    training_job_id: str | None
    base_model_id: str | None
    lineage: dict[str, Any]
    evaluation: dict[str, Any]
    gate: dict[str, Any]  # the quality gate's verdict; {} for uploaded files
    contact_sheet_url: str | None


@dataclass(frozen=True)
class Activation:
    """One entry of the model activation log."""

    SCHEMA: ClassVar[str] = "ActivationPublic"

    id: int
    action: str
    model_id: str | None
    previous_model_id: str | None
    forced: bool
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    """The caller's API key, as `GET /v1/me` describes it (never the secret)."""

    SCHEMA: ClassVar[str] = "KeyPublic"

    id: int
    name: str
    is_admin: bool
