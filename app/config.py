"""One typed settings object, read from `ATELIER_*` environment variables (and an optional `.env`).

Defaults give the embedded stack: everything (SQLite job store, SQLite broker, storage folder)
lives under `ATELIER_DATA_DIR`, so a fresh install needs no server.
"""

import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal

import limits
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.backends import check_backend_choice, default_graph_cache_dir
from contracts.modelfile import SHIPPED_MODEL
from contracts.stylize import DEFAULT_TILE_SIZE
from contracts.video import VIDEO_MAX_BYTES, VIDEO_MAX_SECONDS, VIDEO_MAX_SIDE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ATELIER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path("data")
    database_url: str | None = None  # default: sqlite under data_dir
    broker_url: str | None = None  # default: kombu's SQLAlchemy transport on sqlite under data_dir
    storage_dir: Path | None = None  # default: data_dir / "storage"
    # Where files go: file:///path (default: storage_dir) or s3://bucket/prefix (S3, MinIO...,
    # credentials from the standard AWS_* variables; s3_endpoint_url for a server not AWS).
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    result_redirect_expiry_s: int = Field(default=300, gt=0)  # a presigned result URL's life

    # The API's database connections: a request holds one only while it reads or records rows
    # (never while a body streams in or an image is decoded), so a pool of this size serves far
    # more concurrent uploads. A request that waits `db_pool_timeout_s` for one gets 503 with
    # Retry-After (`busy_retry_after_s`). PostgreSQL's own limit (max_connections, 100 by
    # default) must exceed (pool size + overflow) x API processes + workers.
    db_pool_size: int = Field(default=20, gt=0)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    busy_retry_after_s: int = Field(default=2, gt=0)

    # Per-key limits on job submissions (app.limits); an admin overrides them per key. Over a
    # limit: 429 with Retry-After. Empty rate or 0: no limit.
    rate_limit: str = "120/minute"  # the `limits` notation: "60/minute", "1000/hour", "5/second"
    max_active_jobs: int = Field(default=100, ge=0)  # queued or running at once
    daily_job_quota: int = Field(default=2000, ge=0)  # jobs submitted per UTC day
    active_jobs_retry_after_s: int = Field(default=10, gt=0)

    # Retention (app.retention): a stylization's or video's uploads and result are deleted this
    # many days after it finished (0: kept forever); styles, sets and models never expire. API
    # processes with run_reaper sweep every retention_interval_s.
    retention_days: int = Field(default=30, ge=0)
    retention_interval_s: float = Field(default=3600.0, gt=0)

    # Upload limits: bytes are counted while streaming, pixels checked before decoding.
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=40_000_000, gt=0)
    max_upload_side: int = Field(default=8192, gt=0)  # an uploaded image's largest side
    # The GAN's tile size when a job names none: the largest side processed in one pass (a
    # result always has the photo's size). The optimisation method works at optimisation_size.
    default_tile_size: int = Field(default=DEFAULT_TILE_SIZE, gt=0)
    max_model_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    max_archive_bytes: int = Field(default=200 * 1024 * 1024, gt=0)  # a style set's zip
    # Video clips (POST /v1/videos): bytes counted while streaming, length and size probed
    # before anything is stored.
    video_max_bytes: int = Field(default=VIDEO_MAX_BYTES, gt=0)
    video_max_seconds: float = Field(default=VIDEO_MAX_SECONDS, gt=0)
    video_max_side: int = Field(default=VIDEO_MAX_SIDE, gt=0)
    # Where a clip is written while it streams in and is probed, before it is stored (this
    # API process's own disk; a file lives only as long as its request). Beside a local
    # storage folder on the same file system, storing it is a hard link, not a copy.
    upload_dir: Path | None = None  # default: data_dir / "uploads"

    # Training (style sets, fine-tuning jobs on the training queue).
    training_crop: int = Field(default=256, gt=0)  # set images smaller than this are reported
    training_content_dir: Path | None = None  # the worker's photos when a job names no set
    training_dir: Path | None = None  # default: data_dir / "training" (checkpoints, previews)

    # The built-in model: registered (and activated on a fresh database) by `atelier db upgrade`
    # and `atelier serve` when the file exists; empty disables it.
    builtin_model: str = str(SHIPPED_MODEL)
    # The built-in styles (app/builtin_styles/): registered by the API at start when true.
    builtin_styles: bool = True
    # A campaign's photos at most (each a child job per style).
    max_campaign_photos: int = Field(default=50, gt=0)

    # The model the worker runs.
    encoder: str = "efficientnet-lite0"
    device: str = "auto"
    # The inference backend (contracts.backends): auto (measured: the fastest installed one
    # whose exported graphs match torch), torch, onnxruntime or openvino. ATELIER_RUNTIME, the
    # name the issue first gave it, is read too.
    backend: str = Field(
        default="auto", validation_alias=AliasChoices("ATELIER_BACKEND", "ATELIER_RUNTIME")
    )
    # The models' arithmetic: auto (bf16 where the CPU has native bf16 arithmetic, AMX or
    # AVX512-BF16, and on CUDA; fp32 elsewhere), f32 or bf16 (README: speed and scores of each).
    inference_precision: Literal["auto", "f32", "bf16"] = "auto"
    # Where a worker keeps exported graphs on its own disk (default: this machine's cache,
    # contracts.backends.default_graph_cache_dir, shared with the CLI); the job store and
    # storage share them between workers.
    graph_cache_dir: Path | None = None
    # Whether a worker's warm-up also runs the common photo shapes (models.inference): a first
    # photo of one of them then runs as fast as the next, for about 0.6 s more of start-up and
    # 80-100 MiB more of the worker's memory (OpenVINO; docs/benchmarks.md).
    warm_photo_shapes: bool = True
    optimisation_steps: int = Field(default=100, gt=0)
    optimisation_size: int = Field(default=384, gt=0)

    # Reliability: the jobs table, not the broker, is the source of truth.
    job_time_limit_s: float = Field(default=1800.0, gt=0)
    # Training runs for hours on a CPU: its own limit (default one week).
    training_time_limit_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    heartbeat_timeout_s: float = Field(default=60.0, gt=0)  # running job with older heartbeat: lost
    reaper_interval_s: float = Field(default=10.0, gt=0)
    requeue_queued_after_s: float = Field(default=600.0, gt=0)  # re-send a message that got lost
    max_attempts: int = Field(default=3, gt=0)
    cancel_check_interval_s: float = Field(default=0.5, ge=0)
    broker_polling_interval_s: float = Field(default=0.1, gt=0)
    # `Prefer: wait`: how often the jobs table is read on the embedded stack (no server to push
    # a notification), and elsewhere in case a notification was missed (app/notify.py).
    wait_poll_interval_s: float = Field(default=0.025, gt=0)
    wait_fallback_poll_s: float = Field(default=0.5, gt=0)
    broker_key_prefix: str = ""  # Redis: lets several deployments (or test runs) share a server
    run_reaper: bool = True  # the API process runs the reaper and retention loops

    # Webhooks (Standard Webhooks signing).
    webhook_secret: SecretStr | None = None  # default: generated once into data_dir
    webhook_max_attempts: int = Field(default=5, gt=0)
    webhook_backoff_s: float = Field(default=2.0, ge=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_allow_private: bool = False  # loopback/private targets (SSRF guard, literal hosts)

    # Signed provenance (worker/provenance.py): with both set, every result also carries a C2PA
    # manifest signed by the worker: a PEM certificate chain (the signing certificate first, its
    # issuers after) and its PEM private key (EC P-256/384/521, RSA or Ed25519). Neither: no
    # manifest, and nothing else changes (the XMP label is written either way).
    c2pa_cert: Path | None = None
    c2pa_key: Path | None = Field(default=None, validate_default=True)

    result_cache_max_age_s: int = 86400
    metrics_public: bool = False  # /metrics without an admin key (a private scrape network)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("backend")
    @classmethod
    def _backend_known(cls, value: str) -> str:
        return check_backend_choice(value)

    @field_validator("c2pa_key")
    @classmethod
    def _c2pa_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("c2pa_cert") is None):
            raise ValueError(
                "ATELIER_C2PA_CERT and ATELIER_C2PA_KEY go together: set both or neither"
            )
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_parses(cls, value: str) -> str:
        if value.strip():
            limits.parse(value)  # ValueError names the notation it expects
        return value

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'atelier.sqlite').resolve()}"

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    @property
    def storage_path(self) -> Path:
        return (self.storage_dir or self.data_dir / "storage").resolve()

    @property
    def upload_path(self) -> Path:
        return (self.upload_dir or self.data_dir / "uploads").resolve()

    @property
    def storage_location(self) -> str:
        return self.storage_url or self.storage_path.as_uri()

    @property
    def graph_cache_path(self) -> Path:
        return (self.graph_cache_dir or default_graph_cache_dir()).resolve()

    @property
    def training_path(self) -> Path:
        return (self.training_dir or self.data_dir / "training").resolve()

    @property
    def builtin_model_path(self) -> Path | None:
        return Path(self.builtin_model).resolve() if self.builtin_model.strip() else None

    @property
    def embedded_broker(self) -> bool:
        return self.celery_broker_url.startswith(("sqla+", "sqlalchemy+"))

    @property
    def amqp_broker(self) -> bool:
        """RabbitMQ (or another AMQP 0-9-1 server)."""
        return self.celery_broker_url.startswith(("amqp", "pyamqp"))


# Settings renamed for what they are, their old environment variables still read for one release.
RENAMED = {
    "ATELIER_MAX_SIDE": "max_upload_side",
    "ATELIER_DEFAULT_OUTPUT_SIDE": "default_tile_size",
}


class SettingsError(ValueError):
    """An environment variable with a value the settings refuse; the message names it."""


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings` and pass it explicitly."""
    try:
        settings = Settings()
    except ValidationError as exc:
        names = [str(e["loc"][0]).upper() for e in exc.errors()]
        lines = [
            f"{n if n.startswith('ATELIER_') else 'ATELIER_' + n}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for n, e in zip(names, exc.errors(), strict=True)
        ]
        raise SettingsError("invalid settings: " + "; ".join(lines)) from None
    for old, field in RENAMED.items():
        new = "ATELIER_" + field.upper()
        if old in os.environ and new not in os.environ:
            warnings.warn(f"{old} is deprecated: set {new}", DeprecationWarning, stacklevel=2)
            settings = settings.model_copy(update={field: int(os.environ[old])})
    return settings
