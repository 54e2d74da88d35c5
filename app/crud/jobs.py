"""Jobs as the API sees them: submitted with their images (idempotently), read, listed by cursor,
dispatched and canceled; their webhook attempts (a campaign's too); the figures /metrics reads.
What workers and the reaper do to a running job is in `job_runs`.
"""

import base64
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.crud.ids import new_id
from app.crud.images import _add_clean_image, _add_file
from app.db import utcnow
from app.images import CleanImage
from app.storage import Storage
from app.tables import FINISHED, ApiKey, Campaign, Job, JobKind, JobStatus
from app.video_uploads import StoredClip


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
    region_masks: Sequence[CleanImage] = (),
) -> Job:
    """Store the job's images (content, style, protected-region mask, the `regions`' masks:
    each region that names a mask index records its image's sha256) and the job in one
    transaction. A concurrent request with the same Idempotency-Key that won the race gives its
    job instead."""
    content_row = _add_clean_image(session, storage=storage, image=content)
    if style_image is not None:
        style_sha256 = _add_clean_image(session, storage=storage, image=style_image).sha256
    if mask is not None:
        mask_sha256 = _add_clean_image(session, storage=storage, image=mask).sha256
        parameters = {**parameters, "mask_sha256": mask_sha256}
    if parameters.get("regions"):
        keys = [_add_clean_image(session, storage=storage, image=m).sha256 for m in region_masks]
        parameters = {**parameters, "regions": _link_region_masks(parameters["regions"], keys)}
    return _add_job_once(
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


def _link_region_masks(
    regions: list[dict[str, Any]], mask_keys: Sequence[str]
) -> list[dict[str, Any]]:
    """Styled `regions` as a job records them: each one that names a `mask` index also records
    that `masks` file's storage key (`mask_sha256`, which the worker reads); a stylization's
    and a campaign child's alike."""
    return [
        {**r, "mask_sha256": mask_keys[r["mask"]]} if r.get("mask") is not None else r
        for r in regions
    ]


def create_video(
    session: Session,
    *,
    storage: Storage,
    owner: ApiKey,
    parameters: dict[str, Any],
    clip: StoredClip,
    style_image: CleanImage | None,
    style_sha256: str | None,
    style_id: str | None,
    model_id: str | None,
    idempotency_key: str | None,
    webhook_url: str | None,
) -> Job:
    """Store a video job's clip (an `images` row too, with its content type and size, so that
    retention and the result route treat it as any stored file), its style and the job in one
    transaction; an Idempotency-Key race is settled as for stills."""
    clip_row = _add_file(
        session,
        storage=storage,
        path=clip.path,
        sha256=clip.sha256,
        width=clip.width,
        height=clip.height,
        content_type=clip.content_type,
    )
    if style_image is not None:
        style_sha256 = _add_clean_image(session, storage=storage, image=style_image).sha256
    return _add_job_once(
        session,
        kind=JobKind.video,
        owner=owner,
        parameters=parameters,
        idempotency_key=idempotency_key,
        content_sha256=clip_row.sha256,
        style_sha256=style_sha256,
        style_id=style_id,
        model_id=model_id,
        webhook_url=webhook_url,
        webhook_status="pending" if webhook_url else None,
    )


def _add_job_once(
    session: Session, *, owner: ApiKey, idempotency_key: str | None, **fields: Any
) -> Job:
    """Add the job; a concurrent request with the same Idempotency-Key that won the race gives
    its job instead."""
    try:
        return _add_job(session, owner=owner, idempotency_key=idempotency_key, **fields)
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


def is_finished(status: JobStatus) -> bool:
    return status in FINISHED


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
