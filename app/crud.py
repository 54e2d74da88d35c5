"""All reads and writes of the job store, as keyword-only functions taking a session.

One rule for writes: routes and tasks never add, delete or commit themselves; every public
function here that writes commits its own transaction, and what must land together (a job and
its images, a set and its members, checks and digest) is one function. Private `_add_*` helpers
add rows without committing, for those functions.

Status changes that race with other processes (claim, progress, finish, reap) are single
conditional UPDATEs, so two workers or a worker and the reaper can never both win.
"""

import base64
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, false, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import dialect_insert, utcnow
from app.errors import NotFound
from app.images import CleanImage, validate_image
from app.imagesets import Member, SetImage, data_checks, set_digest
from app.security import hash_key, new_key
from app.storage import Storage, sha256_hex
from app.tables import (
    FINISHED,
    ApiKey,
    Campaign,
    ImageSet,
    ImageSetMember,
    Job,
    JobKind,
    JobStatus,
    ModelActivation,
    ModelFile,
    StoredImage,
    Style,
    StyleSetStats,
    StyleStats,
)
from contracts.modelfile import ModelFileError, read_model_metadata


def new_id() -> str:
    return str(uuid.uuid4())


# --- API keys ---------------------------------------------------------------------------------


def create_api_key(
    session: Session, *, name: str, is_admin: bool, **limits: str | int | None
) -> tuple[ApiKey, str]:
    """Store a new key's hash; the clear key is returned once and never stored. `limits`:
    `rate_limit`, `max_active_jobs`, `daily_job_quota` (None: the settings' default)."""
    secret = new_key()
    row = ApiKey(
        name=name, prefix=secret[:8], key_hash=hash_key(secret), is_admin=is_admin, **limits
    )
    session.add(row)
    session.commit()
    return row, secret


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def get_api_key_by_id(session: Session, *, key_id: int) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def set_key_limits(session: Session, *, key: ApiKey, **limits: str | int | None) -> ApiKey:
    """Set some of a key's limits (`rate_limit`, `max_active_jobs`, `daily_job_quota`); a
    None clears one back to the settings' default."""
    for name, value in limits.items():
        setattr(key, name, value)
    session.commit()
    return key


def count_unfinished_jobs(session: Session, *, owner: ApiKey) -> int:
    query = select(func.count()).select_from(Job)
    query = query.where(Job.owner_id == owner.id, Job.status.not_in(FINISHED))
    return int(session.scalar(query) or 0)


def lock_key(session: Session, *, key_id: int) -> None:
    """Until this transaction ends, hold the key's row, so that its submissions count and insert
    their jobs one at a time (PostgreSQL: FOR NO KEY UPDATE, which still lets other rows name it;
    SQLite: its one write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(ApiKey.id).where(ApiKey.id == key_id).with_for_update(key_share=True)
        )
    else:
        session.execute(update(ApiKey).where(false()).values(id=ApiKey.id))


def count_jobs_since(session: Session, *, owner: ApiKey, since: datetime) -> int:
    query = select(func.count()).select_from(Job)
    return int(session.scalar(query.where(Job.owner_id == owner.id, Job.created_at >= since)) or 0)


def get_api_key(session: Session, *, secret: str) -> ApiKey | None:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    return row if row is not None and row.revoked_at is None else None


def has_admin_key(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.is_admin)) > 0  # type: ignore[operator]


# --- images -----------------------------------------------------------------------------------


def lock_files(session: Session, keys: set[str], *, exclusive: bool = False) -> None:
    """Until this transaction ends, hold the lock that orders writing a content-addressed file
    against deleting it. A writer takes it shared (writers never wait for each other) before it
    puts the bytes and keeps it until the row naming them is committed; retention takes it
    exclusive for one key while it checks that nothing live names the file and deletes it. So a
    deletion either sees the new row, or ends before the writer's put, which then writes the
    bytes again (a put first looks whether they are there).

    PostgreSQL: a transaction-level advisory lock per key (a 64-bit hash of it; a collision only
    makes one wait for the other). SQLite: its one write lock, taken now by a write that changes
    nothing (it allows one writer at a time anyway; taking it early is what orders the two)."""
    if not keys:
        return
    if session.get_bind().dialect.name == "postgresql":
        lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
        for key in sorted(keys):
            session.execute(select(lock(func.hashtextextended(key, 0))))
    else:
        session.execute(update(StoredImage).where(false()).values(sha256=StoredImage.sha256))


def _add_image(
    session: Session, *, storage: Storage, data: bytes, width: int, height: int, content_type: str
) -> StoredImage:
    """Write the bytes to storage and add (not commit) their row; the file cannot be deleted by
    retention until this transaction ends (`lock_files`)."""
    lock_files(session, {sha256_hex(data)})
    key = storage.put(data)
    row = session.get(StoredImage, key)
    if row is None:
        # INSERT ... ON CONFLICT DO NOTHING: concurrent requests uploading the same bytes
        # (content-addressed: one row) must not fail each other with a unique violation.
        session.execute(
            dialect_insert(session)(StoredImage)
            .values(
                sha256=key,
                content_type=content_type,
                width=width,
                height=height,
                size_bytes=len(data),
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
        row = session.get(StoredImage, key)
        if row is None:
            raise RuntimeError(f"image row {key} neither inserted nor found")
    return row


def _add_clean_image(session: Session, *, storage: Storage, image: CleanImage) -> StoredImage:
    return _add_image(
        session,
        storage=storage,
        data=image.png,
        width=image.width,
        height=image.height,
        content_type="image/png",
    )


def store_image(
    session: Session, *, storage: Storage, data: bytes, width: int, height: int, content_type: str
) -> StoredImage:
    """Store an image (a job's result): the bytes, then their row, committed."""
    row = _add_image(
        session, storage=storage, data=data, width=width, height=height, content_type=content_type
    )
    session.commit()
    return row


def get_image(session: Session, *, sha256: str) -> StoredImage | None:
    return session.get(StoredImage, sha256)


def require_image(session: Session, *, sha256: str) -> StoredImage:
    """The row of an image a style, set or job references (NotFound if it went missing)."""
    row = session.get(StoredImage, sha256)
    if row is None:
        raise NotFound("image_not_found", f"stored image {sha256} is missing")
    return row


# --- jobs -------------------------------------------------------------------------------------


def create_stylization(
    session: Session,
    *,
    storage: Storage,
    owner: ApiKey,
    parameters: dict[str, Any],
    content: CleanImage,
    style_image: CleanImage | None,
    style_sha256: str | None,
    style_id: str | None,
    model_id: str | None,
    idempotency_key: str | None,
    webhook_url: str | None,
    style_set_id: str | None = None,
    mask: CleanImage | None = None,
) -> Job:
    """Store the job's images (content, style, protected-region mask) and the job in one
    transaction. A concurrent request with the same Idempotency-Key that won the race gives its
    job instead."""
    content_row = _add_clean_image(session, storage=storage, image=content)
    if style_image is not None:
        style_sha256 = _add_clean_image(session, storage=storage, image=style_image).sha256
    if mask is not None:
        mask_sha256 = _add_clean_image(session, storage=storage, image=mask).sha256
        parameters = {**parameters, "mask_sha256": mask_sha256}
    try:
        return _add_job(
            session,
            kind=JobKind.stylize,
            owner=owner,
            parameters=parameters,
            idempotency_key=idempotency_key,
            content_sha256=content_row.sha256,
            style_sha256=style_sha256,
            style_id=style_id,
            style_set_id=style_set_id,
            model_id=model_id,
            webhook_url=webhook_url,
            webhook_status="pending" if webhook_url else None,
        )
    except IntegrityError:
        session.rollback()
        existing = get_job_by_idempotency_key(session, owner=owner, key=idempotency_key or "")
        if existing is None:
            raise
        return existing


def create_training(
    session: Session, *, owner: ApiKey, parameters: dict[str, Any], style_set_id: str | None
) -> Job:
    return _add_job(
        session,
        kind=JobKind.train,
        owner=owner,
        parameters=parameters,
        style_set_id=style_set_id,
        model_id=parameters.get("base_model_id"),
    )


def _add_job(
    session: Session, *, kind: JobKind, owner: ApiKey, parameters: dict[str, Any], **columns: Any
) -> Job:
    job = _new_job(kind=kind, owner=owner, parameters=parameters, **columns)
    session.add(job)
    session.commit()
    return job


def _new_job(*, kind: JobKind, owner: ApiKey, parameters: dict[str, Any], **columns: Any) -> Job:
    """A queued job row, not yet added."""
    return Job(
        id=new_id(),
        kind=kind,
        status=JobStatus.queued,
        owner_id=owner.id,
        parameters=parameters,
        result_info={},
        progress_info={},
        progress=0.0,
        attempts=0,
        cancel_requested=False,
        webhook_attempts=0,
        **columns,
    )


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


def record_webhook_attempt(
    session: Session,
    *,
    table: type[Job] | type[Campaign],
    row_id: str,
    attempt: int,
    delivered: bool,
    max_attempts: int,
) -> None:
    """A job's or a campaign's webhook delivery: delivered, retrying, or failed after
    `max_attempts`."""
    status = "delivered" if delivered else "retrying" if attempt < max_attempts else "failed"
    session.execute(
        update(table)
        .where(table.id == row_id)
        .values(webhook_attempts=attempt, webhook_status=status)
    )
    session.commit()


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


def heartbeat(
    session: Session,
    *,
    job_id: str,
    worker: str,
    progress: float | None = None,
    info: dict[str, Any] | None = None,
) -> bool:
    """Record liveness (and progress, and a training job's `progress_info`); returns whether a
    cancel was requested.

    Raises LookupError when this worker no longer owns the job (the reaper gave it away).
    """
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    if info is not None:
        values["progress_info"] = info
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


def stage_timings(session: Session) -> list[dict[str, float]]:
    """The worker's `result_info.timings` of succeeded stylization jobs (for the histograms)."""
    rows = session.scalars(
        select(Job.result_info).where(
            Job.status == JobStatus.succeeded, Job.kind == JobKind.stylize
        )
    )
    return [info["timings"] for info in rows if info and "timings" in info]


def is_finished(status: JobStatus) -> bool:
    return status in FINISHED


# --- retention --------------------------------------------------------------------------------


def expirable_jobs(session: Session, *, finished_before: datetime, limit: int) -> list[Job]:
    """Finished stylization jobs older than the retention period, oldest first."""
    query = select(Job).where(
        Job.kind == JobKind.stylize,
        Job.status.in_(FINISHED),
        Job.status != JobStatus.expired,
        Job.finished_at < finished_before,
    )
    return list(session.scalars(query.order_by(Job.finished_at).limit(limit)))


def owned_jobs(session: Session, *, owner_id: int) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.owner_id == owner_id)))


def mark_expired(session: Session, *, job: Job) -> bool:
    """finished -> expired for exactly one caller (two sweeps may race); whether this one won."""
    result = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_(FINISHED), Job.status != JobStatus.expired)
        .values(status=JobStatus.expired)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def job_files(job: Job) -> set[str]:
    """The storage keys a job's row names: uploads, result, mask, training preview, checkpoint."""
    keys = {job.content_sha256, job.style_sha256, job.result_sha256}
    keys.add((job.parameters or {}).get("mask_sha256"))
    keys.add((job.progress_info or {}).get("preview_sha256"))
    keys.add((job.progress_info or {}).get("checkpoint_sha256"))
    return {k for k in keys if isinstance(k, str)}


def files_in_use(session: Session, *, keys: set[str]) -> set[str]:
    """Those of `keys` that something live still names: a job not expired, a style (saved
    styles never expire), a set image or thumbnail, a model file, its sheet or statistics."""
    if not keys:
        return set()
    live = Job.status != JobStatus.expired
    columns = [
        (Job.content_sha256, live),
        (Job.style_sha256, live),
        (Job.result_sha256, live),
        (Job.parameters["mask_sha256"].as_string(), live),
        (Job.progress_info["preview_sha256"].as_string(), live),
        (Job.progress_info["checkpoint_sha256"].as_string(), live),
        (Style.image_sha256, None),
        (ImageSetMember.image_sha256, None),
        (ImageSetMember.thumb_sha256, None),
        (ModelFile.sha256, None),
        (ModelFile.sheet_sha256, None),
        (StyleStats.stats_sha256, None),
        (StyleSetStats.stats_sha256, None),
    ]
    used: set[str] = set()
    for column, condition in columns:
        query = select(column).where(column.in_(keys))
        if condition is not None:
            query = query.where(condition)
        used.update(session.scalars(query.distinct()))
    return used


def delete_styles_of(session: Session, *, owner_id: int) -> set[str]:
    """Delete a key's saved styles; the storage keys of their images."""
    styles = list(session.scalars(select(Style).where(Style.owner_id == owner_id)))
    for style in styles:
        session.delete(style)
    session.commit()
    return {style.image_sha256 for style in styles}


# --- campaigns --------------------------------------------------------------------------------


def create_campaign(
    session: Session,
    *,
    storage: Storage,
    owner: ApiKey,
    name: str,
    parameters: dict[str, Any],
    photos: list[CleanImage],
    saved_styles: list[tuple[str, str]],
    uploaded_styles: list[CleanImage],
    children: list[dict[str, Any]],
    idempotency_key: str | None,
    webhook_url: str | None,
) -> Campaign:
    """A campaign, its photos and a child job per (photo, style) pair, in one transaction.

    The styles are the saved ones, (image sha256, style id), then the uploaded ones;
    `children[i]` are the parameters of the i-th pair,
    photo-major (`campaign_photo`, `campaign_style` name them). A concurrent request with the
    same Idempotency-Key that won the race gives its campaign instead."""
    campaign = Campaign(
        id=new_id(),
        owner_id=owner.id,
        name=name,
        idempotency_key=idempotency_key,
        parameters=parameters,
        total=len(children),
        webhook_url=webhook_url,
        webhook_status="pending" if webhook_url else None,
        webhook_attempts=0,
    )
    session.add(campaign)
    keys = [_add_clean_image(session, storage=storage, image=p).sha256 for p in photos]
    styles: list[tuple[str, str | None]] = [*saved_styles]
    for image in uploaded_styles:
        styles.append((_add_clean_image(session, storage=storage, image=image).sha256, None))
    for child in children:
        style_sha256, style_id = styles[child["campaign_style"]]
        session.add(
            _new_job(
                kind=JobKind.stylize,
                owner=owner,
                parameters=child,
                content_sha256=keys[child["campaign_photo"]],
                style_sha256=style_sha256,
                style_id=style_id,
                model_id=child.pop("model_id", None),
                campaign_id=campaign.id,
            )
        )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = get_campaign_by_idempotency_key(session, owner=owner, key=idempotency_key or "")
        if existing is None:
            raise
        return existing
    return campaign


def get_campaign(session: Session, *, campaign_id: str, viewer: ApiKey) -> Campaign | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or (not viewer.is_admin and campaign.owner_id != viewer.id):
        return None
    return campaign


def get_campaign_by_idempotency_key(
    session: Session, *, owner: ApiKey, key: str
) -> Campaign | None:
    return session.scalar(
        select(Campaign).where(Campaign.owner_id == owner.id, Campaign.idempotency_key == key)
    )


def campaign_children(session: Session, *, campaign_id: str) -> list[Job]:
    """The child jobs, photo by photo, style by style (the order they were submitted in)."""
    jobs = session.scalars(select(Job).where(Job.campaign_id == campaign_id))
    return sorted(
        jobs, key=lambda j: (j.parameters["campaign_photo"], j.parameters["campaign_style"])
    )


def cancel_campaign(session: Session, *, campaign: Campaign) -> list[Job]:
    """Cancel every unfinished child (as `request_cancel` does one job); returns the children."""
    now = utcnow()
    session.execute(
        update(Job)
        .where(Job.campaign_id == campaign.id, Job.status == JobStatus.queued)
        .values(status=JobStatus.canceled, finished_at=now, cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Job)
        .where(Job.campaign_id == campaign.id, Job.status == JobStatus.running)
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.expire_all()
    return campaign_children(session, campaign_id=campaign.id)


def finish_campaign_if_done(session: Session, *, campaign_id: str) -> Campaign | None:
    """Mark the campaign finished once no child is queued or running: exactly one caller (the
    worker that finished the last child, or a cancel) gets the campaign back, to send its one
    webhook; everyone else gets None."""
    unfinished = (
        select(Job.id).where(Job.campaign_id == campaign_id, Job.status.not_in(FINISHED)).exists()
    )
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.finished_at.is_(None), ~unfinished)
        .values(finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(Campaign, campaign_id, populate_existing=True)


def finish_ended_campaigns(session: Session) -> list[Campaign]:
    """End every campaign whose children have all finished but that nobody ended: a child the
    reaper failed or canceled (no worker finishes it), or a worker killed between finishing the
    last child and ending the campaign. Each is ended by `finish_campaign_if_done`, so a
    campaign a worker ends at the same moment is still ended (and its webhook sent) once."""
    unfinished = select(Job.id).where(Job.campaign_id == Campaign.id, Job.status.not_in(FINISHED))
    ended = session.scalars(
        select(Campaign.id).where(Campaign.finished_at.is_(None), ~unfinished.exists())
    ).all()
    done = [finish_campaign_if_done(session, campaign_id=campaign_id) for campaign_id in ended]
    return [campaign for campaign in done if campaign is not None]


# --- styles -----------------------------------------------------------------------------------


def create_style(
    session: Session, *, storage: Storage, owner: ApiKey, name: str, image: CleanImage
) -> Style:
    """Store the style's image and the style in one transaction."""
    row = _add_clean_image(session, storage=storage, image=image)
    style = Style(id=new_id(), name=name, image_sha256=row.sha256, owner_id=owner.id)
    session.add(style)
    session.commit()
    return style


def get_style(session: Session, *, style_id: str, viewer: ApiKey) -> Style | None:
    """The style, or None when it does not exist or is another key's (built-ins are everyone's)."""
    style = session.get(Style, style_id)
    if style is None or (
        not style.is_builtin and not viewer.is_admin and style.owner_id != viewer.id
    ):
        return None
    return style


def list_styles(session: Session, *, viewer: ApiKey) -> list[Style]:
    """The viewer's styles (an admin's: all uploaded ones), newest first, then the built-ins in
    the order they ship."""
    query = select(Style).where(Style.is_builtin.is_(False)).order_by(Style.created_at.desc())
    if not viewer.is_admin:
        query = query.where(Style.owner_id == viewer.id)
    builtin = select(Style).where(Style.is_builtin).order_by(Style.created_at, Style.id)
    return [*session.scalars(query), *session.scalars(builtin)]


def register_builtin_styles(session: Session, *, storage: Storage, enabled: bool) -> str:
    """Register the shipped styles not yet registered (by file name), in one transaction; say
    what was done in one line for the start-up log. Idempotent, and safe when API processes
    start together: a style is inserted with ON CONFLICT DO NOTHING on its unique file name."""
    from app.builtin_styles import builtin_styles

    if not enabled:
        return "built-in styles: disabled (ATELIER_BUILTIN_STYLES=false)"
    known = set(session.scalars(select(Style.builtin_file).where(Style.is_builtin)))
    added = 0
    for number, shipped in enumerate(builtin_styles()):
        if shipped.file in known:
            continue
        image = validate_image(
            shipped.path.read_bytes(), field=shipped.file, max_pixels=10**8, max_upload_side=10**5
        )
        row = _add_clean_image(session, storage=storage, image=image)
        inserted = session.execute(
            dialect_insert(session)(Style)
            .values(
                id=new_id(),
                name=shipped.name,
                image_sha256=row.sha256,
                owner_id=None,
                is_builtin=True,
                info=asdict(shipped),
                builtin_file=shipped.file,
                # Listed in the data file's order.
                created_at=utcnow() + timedelta(microseconds=number),
            )
            .on_conflict_do_nothing(index_elements=["builtin_file"])
            .returning(Style.id)
        )
        added += inserted.first() is not None  # None: another process registered it first
    session.commit()
    return f"built-in styles: {added} registered, {len(known)} already there"


def get_style_stats(session: Session, *, image_sha256: str, model_key: str) -> StyleStats | None:
    return session.scalar(
        select(StyleStats).where(
            StyleStats.image_sha256 == image_sha256, StyleStats.model_key == model_key
        )
    )


def save_style_stats(
    session: Session, *, image_sha256: str, model_key: str, stats_sha256: str
) -> None:
    """Record a style image's computed statistics; a concurrent worker that stored them first
    wins."""
    session.add(
        StyleStats(image_sha256=image_sha256, model_key=model_key, stats_sha256=stats_sha256)
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


def delete_style(session: Session, *, style: Style) -> None:
    session.delete(style)
    session.commit()


# --- model files ------------------------------------------------------------------------------


def create_model(
    session: Session,
    *,
    name: str,
    sha256: str,
    size_bytes: int,
    info: dict[str, Any],
    **registry: Any,
) -> ModelFile:
    """Register a model file; `registry` holds a trained model's lineage, evaluation and gate."""
    row = ModelFile(
        id=new_id(),
        name=name,
        sha256=sha256,
        size_bytes=size_bytes,
        info=info,
        lineage=registry.pop("lineage", {}),
        evaluation=registry.pop("evaluation", {}),
        gate=registry.pop("gate", {}),
        **registry,
    )
    row.is_active = False
    session.add(row)
    session.commit()
    return row


def register_trained_model(
    session: Session, *, training_job_id: str, name: str, sha256: str, **fields: Any
) -> ModelFile:
    """The model a training job registered: the one already there (an earlier attempt that died
    after registering), else a new one."""
    existing = get_model_by_training_job(session, job_id=training_job_id)
    if existing is not None:
        return existing
    return create_model(
        session, name=name, sha256=sha256, training_job_id=training_job_id, **fields
    )


def register_builtin_model(session: Session, *, storage: Storage, path: Path | None) -> str:
    """Register the built-in model file (`path`, None: disabled) and say what was done, in one
    line for the start-up log. Idempotent: a file already registered (by sha256) is not added
    again. It is activated only on a registry nobody has chosen for: no activation ever logged,
    and no model active other than an earlier built-in (so a new shipped version replaces the
    old one until an admin decides); an admin's activation or rollback is never overridden."""
    if path is None:
        return "built-in model: disabled (ATELIER_BUILTIN_MODEL is empty)"
    if not path.is_file():
        return f"built-in model: no file at {path}; jobs need an uploaded or trained model"
    data = path.read_bytes()
    try:
        info = read_model_metadata(data)
    except ModelFileError as exc:
        return f"built-in model: {path} is not a usable model file ({exc}); not registered"
    sha256 = sha256_hex(data)
    model = session.scalar(select(ModelFile).where(ModelFile.sha256 == sha256).limit(1))
    done = f"already registered as {model.id}" if model is not None else ""
    if model is None:
        evaluation = info.get("evaluation")
        model = create_model(
            session,
            name=str(info.get("name") or path.stem),
            sha256=storage.put(data),
            size_bytes=len(data),
            info=info,
            evaluation=evaluation if isinstance(evaluation, dict) else {},
            is_builtin=True,
        )
        done = f"registered {path.name} as {model.id}"
    chosen = session.scalar(select(func.count()).select_from(ModelActivation))
    active = get_active_model(session)
    if not chosen and (active is None or (active.is_builtin and active.id != model.id)):
        activate_model(session, model=model)
        done += ", activated"
    return f"built-in model: {done} (sha256 {sha256[:12]})"


def list_models(session: Session) -> list[ModelFile]:
    return list(session.scalars(select(ModelFile).order_by(ModelFile.created_at.desc())))


def get_model(session: Session, *, model_id: str) -> ModelFile | None:
    return session.get(ModelFile, model_id)


def get_active_model(session: Session) -> ModelFile | None:
    return session.scalar(select(ModelFile).where(ModelFile.is_active))


def get_model_by_training_job(session: Session, *, job_id: str) -> ModelFile | None:
    return session.scalar(select(ModelFile).where(ModelFile.training_job_id == job_id))


def activate_model(
    session: Session,
    *,
    model: ModelFile | None,
    actor: ApiKey | None = None,
    action: str = "activate",
    forced: bool = False,
    reason: str | None = None,
) -> ModelFile | None:
    """Make `model` the only active one (None: none, the optimisation method), in one
    transaction, and log it (with the previously active model, which rollback returns to)."""
    previous = get_active_model(session)
    target = model.id if model is not None else None
    others = (
        update(ModelFile) if target is None else update(ModelFile).where(ModelFile.id != target)
    )
    session.execute(others.values(is_active=False))
    if target is not None:
        session.execute(update(ModelFile).where(ModelFile.id == target).values(is_active=True))
    if actor is not None:
        session.add(
            ModelActivation(
                action=action,
                model_id=target,
                previous_model_id=previous.id if previous is not None else None,
                forced=forced,
                reason=reason,
                key_id=actor.id,
            )
        )
    session.commit()
    if model is not None:
        session.refresh(model)
    return model


def rollback_target(session: Session) -> tuple[bool, str | None]:
    """(found, model id) that was active before the current one: walks the activation log back
    from the entry that made the current model (or the optimisation method) active."""
    current = get_active_model(session)
    current_id = current.id if current is not None else None
    entry = session.scalar(
        select(ModelActivation)
        .where(
            ModelActivation.model_id.is_(None)
            if current_id is None
            else ModelActivation.model_id == current_id
        )
        .where(ModelActivation.action == "activate")
        .order_by(ModelActivation.id.desc())
        .limit(1)
    )
    if entry is None:
        return False, None
    return True, entry.previous_model_id


def list_activations(session: Session, *, limit: int = 50) -> list[ModelActivation]:
    return list(
        session.scalars(select(ModelActivation).order_by(ModelActivation.id.desc()).limit(limit))
    )


# --- image sets (style sets and content sets) -----------------------------------------------


def create_image_set(
    session: Session,
    *,
    storage: Storage,
    kind: str,
    name: str,
    owner: ApiKey,
    images: list[SetImage],
    findings: list[dict[str, Any]],
    crop: int,
) -> ImageSet:
    """A new set with its images, data checks and digest, in one transaction."""
    row = ImageSet(id=new_id(), kind=kind, name=name, owner_id=owner.id, checks=[], digest="")
    session.add(row)
    session.flush()
    _add_set_images(session, storage=storage, image_set=row, images=images)
    _refresh_set(session, image_set=row, findings=findings, crop=crop)
    session.commit()
    return row


def add_set_images(
    session: Session,
    *,
    storage: Storage,
    image_set: ImageSet,
    images: list[SetImage],
    findings: list[dict[str, Any]],
    crop: int,
) -> None:
    """Add images to a set and recompute its checks and digest, in one transaction."""
    _add_set_images(session, storage=storage, image_set=image_set, images=images)
    _refresh_set(session, image_set=image_set, findings=findings, crop=crop)
    session.commit()


def remove_set_member(
    session: Session, *, image_set: ImageSet, member: ImageSetMember, crop: int
) -> None:
    """Remove one image from a set and recompute its checks and digest, in one transaction."""
    session.delete(member)
    session.flush()
    _refresh_set(session, image_set=image_set, findings=[], crop=crop)
    session.commit()


def _add_set_images(
    session: Session, *, storage: Storage, image_set: ImageSet, images: list[SetImage]
) -> None:
    for image in images:
        _add_clean_image(session, storage=storage, image=image.clean)
        data, width, height = image.thumb
        thumb = _add_image(
            session,
            storage=storage,
            data=data,
            width=width,
            height=height,
            content_type="image/png",
        )
        session.add(
            ImageSetMember(
                id=new_id(),
                set_id=image_set.id,
                image_sha256=image.sha256,
                thumb_sha256=thumb.sha256,
                filename=image.filename,
                phash=image.phash,
            )
        )
    session.flush()


def _refresh_set(
    session: Session, *, image_set: ImageSet, findings: list[dict[str, Any]], crop: int
) -> None:
    """Recompute the set's digest and data checks from its members (`findings`: the upload's)."""
    members = set_members(session, set_id=image_set.id)
    checked = []
    for m in members:
        image = require_image(session, sha256=m.image_sha256)
        checked.append(Member(m.id, m.filename, m.image_sha256, image.width, image.height, m.phash))
    image_set.checks = findings + data_checks(checked, crop=crop)
    image_set.digest = set_digest([m.image_sha256 for m in members])
    image_set.updated_at = utcnow()


def set_members(session: Session, *, set_id: str) -> list[ImageSetMember]:
    return list(
        session.scalars(
            select(ImageSetMember)
            .where(ImageSetMember.set_id == set_id)
            .order_by(ImageSetMember.created_at, ImageSetMember.id)
        )
    )


def get_set_member(session: Session, *, member_id: str) -> ImageSetMember | None:
    return session.get(ImageSetMember, member_id)


def get_style_set_member(session: Session, *, member_id: str) -> ImageSetMember | None:
    """One painting of a style set (content-set photos are not styles)."""
    return session.scalars(
        select(ImageSetMember)
        .join(ImageSet, ImageSet.id == ImageSetMember.set_id)
        .where(ImageSetMember.id == member_id, ImageSet.kind == "style")
    ).first()


def get_image_set(session: Session, *, set_id: str, kind: str | None = None) -> ImageSet | None:
    row = session.get(ImageSet, set_id)
    return row if row is not None and (kind is None or row.kind == kind) else None


def list_image_sets(session: Session, *, kind: str) -> list[ImageSet]:
    return list(
        session.scalars(
            select(ImageSet).where(ImageSet.kind == kind).order_by(ImageSet.created_at.desc())
        )
    )


def delete_image_set(session: Session, *, image_set: ImageSet) -> None:
    for table in (ImageSetMember, StyleSetStats):
        session.execute(delete(table).where(table.set_id == image_set.id))
    session.delete(image_set)
    session.commit()


def get_set_stats(
    session: Session, *, set_id: str, model_key: str, set_digest: str
) -> StyleSetStats | None:
    return session.scalar(
        select(StyleSetStats).where(
            StyleSetStats.set_id == set_id,
            StyleSetStats.model_key == model_key,
            StyleSetStats.set_digest == set_digest,
        )
    )


def save_set_stats(
    session: Session, *, set_id: str, model_key: str, set_digest: str, stats_sha256: str
) -> None:
    """Record computed statistics; a concurrent worker that stored the same ones first wins."""
    session.add(
        StyleSetStats(
            set_id=set_id, model_key=model_key, set_digest=set_digest, stats_sha256=stats_sha256
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
