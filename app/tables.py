"""SQLAlchemy tables of the job store.

Named `tables` rather than the template's `models` so it is never confused with the GAN package.
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow
from contracts.credits import DECLARED_FIELDS as CREDIT_LENGTHS


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"
    expired = "expired"  # finished, then its files deleted (retention, or asked for)


FINISHED = (JobStatus.succeeded, JobStatus.failed, JobStatus.canceled, JobStatus.expired)


class JobKind(enum.StrEnum):
    stylize = "stylize"
    train = "train"
    # A clip (POST /v1/videos): stored as a String(16) without a CHECK, so no migration.
    video = "video"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings; the key itself is not kept
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The key's own limits (app.limits); None: the settings' default.
    rate_limit: Mapped[str | None] = mapped_column(String(64), nullable=True)  # "60/minute"
    max_active_jobs: Mapped[int | None] = mapped_column(Integer, nullable=True)
    daily_job_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RateCounter(Base):
    """A fixed-window rate counter where no Redis keeps them (the `limits` library's storage)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)  # epoch seconds, as `limits` counts


class StoredImage(Base):
    """An image in storage, named by the SHA-256 of its bytes (so it is stored once)."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Style(Base):
    __tablename__ = "styles"
    # One row per shipped file: API processes starting together cannot register one twice.
    __table_args__ = (UniqueConstraint("builtin_file", name="uq_styles_builtin_file"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"))
    # None for a built-in style (shipped in app/builtin_styles/): every key sees it, none owns it.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # title, artist...
    # A built-in style's file name in app/builtin_styles/ (None for uploaded styles).
    builtin_file: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The credit (contracts.credits): a built-in's from its data file, an upload's as declared
    # by its uploader (None: not declared).
    title: Mapped[str | None] = mapped_column(String(CREDIT_LENGTHS["title"]), nullable=True)
    artist: Mapped[str | None] = mapped_column(String(CREDIT_LENGTHS["artist"]), nullable=True)
    source_url: Mapped[str | None] = mapped_column(
        String(CREDIT_LENGTHS["source_url"]), nullable=True
    )
    licence: Mapped[str | None] = mapped_column(String(CREDIT_LENGTHS["licence"]), nullable=True)


class StyleStats(Base):
    """A style image's encoder statistics for one model, computed once by a worker."""

    __tablename__ = "style_stats"
    __table_args__ = (UniqueConstraint("image_sha256", "model_key", name="uq_style_stats"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    model_key: Mapped[str] = mapped_column(String(64))  # the model file's sha256
    stats_sha256: Mapped[str] = mapped_column(String(64))  # safetensors bytes in storage
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Campaign(Base):
    """Many photos x one or a few styles with shared options: a child job per pair
    (`jobs.campaign_id`); its progress and counts are the children's."""

    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key", name="uq_campaigns_owner_idem"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once, by whoever finishes the last child: the moment the one webhook is sent.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ModelFile(Base):
    """A registered GAN model file; at most one is active (the default for new jobs)."""

    __tablename__ = "model_files"
    __table_args__ = (UniqueConstraint("training_job_id", name="uq_model_files_training_job"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    info: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict
    )  # the file's `atelier` metadata
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shipped with the code (ATELIER_BUILTIN_MODEL), registered at start rather than uploaded.
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Registry (models made by a training job; uploaded files leave these empty).
    training_job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    base_model_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {} = not gated (uploads)
    sheet_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ExportedGraph(Base):
    """A model file's exported inference graphs (models.backends.export), in storage: exported
    by the first worker that needed them, fetched by every other (worker.graph_cache)."""

    __tablename__ = "exported_graphs"

    # models.backends.export.graph_key: the model file's sha256, the graph format, the exporter.
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    graph_sha256: Mapped[str] = mapped_column(String(64))  # the packed graphs in storage
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelActivation(Base):
    """The activation log: every activate and rollback, with who, why and what was active."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # activate | rollback
    model_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # None: no GAN model
    previous_model_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImageSet(Base):
    """A named set of images: paintings (`style`) or photos (`content`) for training."""

    __tablename__ = "image_sets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # style | content
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    checks: Mapped[list[Any]] = mapped_column(JSON, default=list)  # data-check findings
    digest: Mapped[str] = mapped_column(String(64))  # of the member images, in order
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImageSetMember(Base):
    __tablename__ = "image_set_members"
    __table_args__ = (UniqueConstraint("set_id", "image_sha256", name="uq_set_member_image"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    set_id: Mapped[str] = mapped_column(ForeignKey("image_sets.id"), index=True)
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"))
    thumb_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"))
    filename: Mapped[str] = mapped_column(String(255))
    phash: Mapped[str] = mapped_column(String(16))  # 64-bit DCT perceptual hash, hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StyleSetStats(Base):
    """A style set's blended encoder statistics for one model, computed by the worker."""

    __tablename__ = "style_set_stats"
    __table_args__ = (
        UniqueConstraint("set_id", "model_key", "set_digest", name="uq_style_set_stats"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[str] = mapped_column(ForeignKey("image_sets.id"), index=True)
    model_key: Mapped[str] = mapped_column(String(64))  # the model file's sha256
    set_digest: Mapped[str] = mapped_column(String(64))
    stats_sha256: Mapped[str] = mapped_column(String(64))  # safetensors bytes in storage
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("owner_id", "idempotency_key", name="uq_jobs_owner_idem"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[JobKind] = mapped_column(Enum(JobKind, native_enum=False, length=16))
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16), index=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_sha256: Mapped[str | None] = mapped_column(ForeignKey("images.sha256"), nullable=True)
    style_sha256: Mapped[str | None] = mapped_column(ForeignKey("images.sha256"), nullable=True)
    style_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    style_set_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    model_id: Mapped[str | None] = mapped_column(ForeignKey("model_files.id"), nullable=True)
    result_sha256: Mapped[str | None] = mapped_column(ForeignKey("images.sha256"), nullable=True)
    result_info: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict
    )  # method, untrained, ...

    progress: Mapped[float] = mapped_column(Float, default=0.0)
    # Training: step, total, losses, images_per_s, eta_s, checkpoint_step, preview_sha256...
    progress_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    campaign_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
