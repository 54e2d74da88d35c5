"""All reads and writes of the job store, as keyword-only functions taking a session.

Status changes that race with other processes (claim, progress, finish, reap) are single
conditional UPDATEs, so two workers or a worker and the reaper can never both win.
"""

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.images import CleanImage
from app.security import hash_key, new_key
from app.storage import Storage
from app.tables import FINISHED, ApiKey, Job, JobKind, JobStatus, ModelFile, StoredImage, Style


def new_id() -> str:
    return str(uuid.uuid4())


# --- API keys ---------------------------------------------------------------------------------


def create_api_key(session: Session, *, name: str, is_admin: bool) -> tuple[ApiKey, str]:
    """Store a new key's hash; the clear key is returned once and never stored."""
    secret = new_key()
    row = ApiKey(name=name, prefix=secret[:8], key_hash=hash_key(secret), is_admin=is_admin)
    session.add(row)
    session.commit()
    return row, secret


def get_api_key(session: Session, *, secret: str) -> ApiKey | None:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    return row if row is not None and row.revoked_at is None else None


def has_admin_key(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.is_admin)) > 0  # type: ignore[operator]


# --- images -----------------------------------------------------------------------------------


def store_image(
    session: Session, *, storage: Storage, data: bytes, width: int, height: int, content_type: str
) -> StoredImage:
    """Write the bytes to storage and add (not commit) their row; callers commit with the job."""
    key = storage.put(data)
    row = session.get(StoredImage, key)
    if row is None:
        row = StoredImage(
            sha256=key, content_type=content_type, width=width, height=height, size_bytes=len(data)
        )
        session.add(row)
        session.flush()  # before the job row that references it (no ORM relationship orders them)
    return row


def store_clean_image(session: Session, *, storage: Storage, image: CleanImage) -> StoredImage:
    return store_image(
        session,
        storage=storage,
        data=image.png,
        width=image.width,
        height=image.height,
        content_type="image/png",
    )


# --- jobs -------------------------------------------------------------------------------------


def create_stylization(
    session: Session,
    *,
    owner: ApiKey,
    parameters: dict[str, Any],
    content_sha256: str,
    style_sha256: str,
    style_id: str | None,
    model_id: str | None,
    idempotency_key: str | None,
    webhook_url: str | None,
) -> Job:
    return _add_job(
        session,
        kind=JobKind.stylize,
        owner=owner,
        parameters=parameters,
        idempotency_key=idempotency_key,
        content_sha256=content_sha256,
        style_sha256=style_sha256,
        style_id=style_id,
        model_id=model_id,
        webhook_url=webhook_url,
        webhook_status="pending" if webhook_url else None,
    )


def create_training(session: Session, *, owner: ApiKey, parameters: dict[str, Any]) -> Job:
    return _add_job(session, kind=JobKind.train, owner=owner, parameters=parameters)


def _add_job(
    session: Session, *, kind: JobKind, owner: ApiKey, parameters: dict[str, Any], **columns: Any
) -> Job:
    job = Job(
        id=new_id(),
        kind=kind,
        status=JobStatus.queued,
        owner_id=owner.id,
        parameters=parameters,
        result_info={},
        progress=0.0,
        attempts=0,
        cancel_requested=False,
        webhook_attempts=0,
        **columns,
    )
    session.add(job)
    session.commit()
    return job


def get_job(session: Session, *, job_id: str, viewer: ApiKey | None = None) -> Job | None:
    """The job, or None when it does not exist or `viewer` (a non-admin key) does not own it."""
    job = session.get(Job, job_id)
    if job is None or (viewer is not None and not viewer.is_admin and job.owner_id != viewer.id):
        return None
    return job


def get_job_by_idempotency_key(session: Session, *, owner: ApiKey, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.owner_id == owner.id, Job.idempotency_key == key))


def encode_cursor(job: Job) -> str:
    return base64.urlsafe_b64encode(job.id.encode()).decode().rstrip("=")


def list_jobs(
    session: Session,
    *,
    viewer: ApiKey,
    status: JobStatus | None,
    kind: JobKind | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Job], str | None]:
    """Newest first; the cursor names the last job of the previous page."""
    query = select(Job)
    if not viewer.is_admin:
        query = query.where(Job.owner_id == viewer.id)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if cursor:
        try:
            last_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            last_id = ""
        last = get_job(session, job_id=last_id, viewer=viewer)
        if last is None:
            raise ValueError("invalid cursor")
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(last.created_at, last.id))
    rows = list(
        session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1))
    )
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def mark_dispatched(session: Session, *, job_id: str) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(dispatched_at=utcnow()))
    session.commit()


def request_cancel(session: Session, *, job: Job) -> Job:
    """Queued: canceled now (the task will find it finished and skip it). Running: flag it."""
    now = utcnow()
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == JobStatus.queued)
        .values(status=JobStatus.canceled, finished_at=now, cancel_requested=True)
    )
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == JobStatus.running)
        .values(cancel_requested=True)
    )
    session.commit()
    session.refresh(job)
    return job


def claim_job(session: Session, *, job_id: str, worker: str, max_attempts: int) -> Job | None:
    """queued -> running for exactly one caller; None if the job is gone, finished or taken."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.queued, Job.attempts < max_attempts)
        .values(
            status=JobStatus.running,
            worker=worker,
            attempts=Job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            progress=0.0,
        )
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(Job, job_id, populate_existing=True)


def heartbeat(session: Session, *, job_id: str, worker: str, progress: float | None = None) -> bool:
    """Record liveness (and progress); returns whether a cancel was requested.

    Raises LookupError when this worker no longer owns the job (the reaper gave it away).
    """
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)
        .values(**values)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LookupError(job_id)
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def finish_job(
    session: Session,
    *,
    job_id: str,
    worker: str,
    status: JobStatus,
    result_sha256: str | None = None,
    result_info: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """running -> a final status, only for the worker that holds the job."""
    values: dict[str, Any] = {
        "status": status,
        "finished_at": utcnow(),
        "error_code": error_code,
        "error_message": error_message,
    }
    if status == JobStatus.succeeded:
        values["progress"] = 1.0
        values["result_sha256"] = result_sha256
        values["result_info"] = result_info or {}
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)
        .values(**values)
    )
    session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


def reap(
    session: Session,
    *,
    heartbeat_timeout: timedelta,
    requeue_after: timedelta,
    max_attempts: int,
    now: datetime | None = None,
) -> list[tuple[str, str]]:
    """Recover jobs the broker lost; returns (id, kind) of jobs to (re-)send to the queue.

    A running job whose heartbeat is older than `heartbeat_timeout` lost its worker: it goes back
    to queued, or fails with `worker_lost` once it used `max_attempts`. A queued job never
    dispatched, or dispatched longer than `requeue_after` ago, is sent again (harmless: only
    one claim can win).
    """
    now = now or utcnow()
    stale = now - heartbeat_timeout
    lost = select(Job.id).where(Job.status == JobStatus.running, Job.heartbeat_at < stale)
    session.execute(
        update(Job)
        .where(Job.id.in_(lost), Job.attempts >= max_attempts)
        .values(
            status=JobStatus.failed,
            finished_at=now,
            error_code="worker_lost",
            error_message=f"the worker stopped responding {max_attempts} times",
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Job)
        .where(Job.id.in_(lost), Job.cancel_requested)
        .values(status=JobStatus.canceled, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Job)
        .where(Job.id.in_(lost))
        .values(status=JobStatus.queued, worker=None, dispatched_at=None, progress=0.0)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    resend = select(Job.id, Job.kind).where(
        Job.status == JobStatus.queued,
        (Job.dispatched_at.is_(None)) | (Job.dispatched_at < now - requeue_after),
        Job.created_at < now - timedelta(seconds=2),  # leave fresh jobs to the API's own send
    )
    return [(job_id, kind.value) for job_id, kind in session.execute(resend)]


def job_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {str(status.value if hasattr(status, "value") else status): n for status, n in rows}


def finished_durations(session: Session) -> list[float]:
    """Seconds from creation to finish of succeeded jobs (for the latency histogram)."""
    rows = session.execute(
        select(Job.created_at, Job.finished_at).where(
            Job.status == JobStatus.succeeded, Job.finished_at.is_not(None)
        )
    ).all()
    return [(f - c).total_seconds() for c, f in rows if f is not None]


def is_finished(status: JobStatus) -> bool:
    return status in FINISHED


# --- styles -----------------------------------------------------------------------------------


def create_style(session: Session, *, owner: ApiKey, name: str, image_sha256: str) -> Style:
    style = Style(id=new_id(), name=name, image_sha256=image_sha256, owner_id=owner.id)
    session.add(style)
    session.commit()
    return style


def get_style(session: Session, *, style_id: str, viewer: ApiKey) -> Style | None:
    style = session.get(Style, style_id)
    if style is None or (not viewer.is_admin and style.owner_id != viewer.id):
        return None
    return style


def list_styles(session: Session, *, viewer: ApiKey) -> list[Style]:
    query = select(Style).order_by(Style.created_at.desc())
    if not viewer.is_admin:
        query = query.where(Style.owner_id == viewer.id)
    return list(session.scalars(query))


def delete_style(session: Session, *, style: Style) -> None:
    session.delete(style)
    session.commit()


def get_image(session: Session, *, sha256: str) -> StoredImage | None:
    return session.get(StoredImage, sha256)


# --- model files ------------------------------------------------------------------------------


def create_model(
    session: Session, *, name: str, sha256: str, size_bytes: int, info: dict[str, Any]
) -> ModelFile:
    row = ModelFile(id=new_id(), name=name, sha256=sha256, size_bytes=size_bytes, info=info)
    row.is_active = False
    session.add(row)
    session.commit()
    return row


def list_models(session: Session) -> list[ModelFile]:
    return list(session.scalars(select(ModelFile).order_by(ModelFile.created_at.desc())))


def get_model(session: Session, *, model_id: str) -> ModelFile | None:
    return session.get(ModelFile, model_id)


def get_active_model(session: Session) -> ModelFile | None:
    return session.scalar(select(ModelFile).where(ModelFile.is_active))


def activate_model(session: Session, *, model: ModelFile) -> ModelFile:
    """Make `model` the only active one, in one transaction."""
    session.execute(update(ModelFile).where(ModelFile.id != model.id).values(is_active=False))
    session.execute(update(ModelFile).where(ModelFile.id == model.id).values(is_active=True))
    session.commit()
    session.refresh(model)
    return model
