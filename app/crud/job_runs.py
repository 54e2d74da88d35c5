"""A job's run, as workers and the reaper change it: claimed, kept alive with progress, finished,
and recovered when its worker is lost. Each change is one conditional UPDATE, so that two
workers, or a worker and the reaper, can never both win.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.tables import Job, JobStatus


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
