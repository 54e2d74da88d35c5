"""Retention: a stylization's uploads and result are kept `RETENTION_DAYS` after it finished.

Every API process runs `run_forever`: each pass marks finished stylization jobs past the
retention period `expired` (one conditional UPDATE each, so two processes never both take one)
and deletes their files from storage. Storage is content-addressed, so one file may serve
several jobs, a saved style, a set or a model: a file is deleted only when nothing live names it
any more (`crud.files_in_use`). Saved and built-in styles, sets and models never expire. A user
can expire one finished job now, and an admin everything a key owns.

The job rows stay (status `expired`, their parameters and result info kept for the record); the
result route answers 410 `result_expired`.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from app import crud
from app.config import Settings
from app.db import utcnow
from app.reaper import run_every
from app.storage import Storage
from app.tables import FINISHED, Job, JobStatus

log = logging.getLogger("atelier.retention")

BATCH = 500  # jobs a pass expires at most (the next pass takes the rest)


@dataclass
class Removed:
    """What an expiry removed: jobs marked expired, files deleted from storage."""

    jobs: int = 0
    files: int = 0


def delete_unused(session: Session, storage: Storage, keys: set[str]) -> int:
    """Delete those of `keys` that nothing live names; how many. Each key is checked and deleted
    under its exclusive lock (`crud.lock_files`), one transaction a key: a request storing the
    same bytes meanwhile either is seen (its row names the file) or writes them again after."""
    unused = keys - crud.files_in_use(session, keys=keys)  # most keys answered in one look
    session.commit()  # a fresh transaction: SQLite takes its write lock only at the start of one
    deleted = 0
    for key in sorted(unused):
        crud.lock_files(session, {key}, exclusive=True)
        if not crud.files_in_use(session, keys={key}):
            storage.delete(key)
            deleted += 1
        session.commit()
    return deleted


def expire_jobs(session: Session, storage: Storage, jobs: list[Job]) -> Removed:
    """Mark finished jobs expired (those another process did not take first), then delete the
    files that no live job, style, set or model still needs."""
    removed = Removed()
    candidates: set[str] = set()
    for job in jobs:
        expirable = job.status in FINISHED and job.status != JobStatus.expired
        if expirable and crud.mark_expired(session, job=job):
            removed.jobs += 1
            candidates |= crud.job_files(job)
    removed.files = delete_unused(session, storage, candidates)
    return removed


def sweep(session: Session, storage: Storage, settings: Settings) -> Removed:
    """One pass: expire what finished more than `retention_days` ago (0: keep forever)."""
    if not settings.retention_days:
        return Removed()
    before = utcnow() - timedelta(days=settings.retention_days)
    jobs = crud.expirable_jobs(session, finished_before=before, limit=BATCH)
    return expire_jobs(session, storage, jobs)


def delete_key_data(session: Session, storage: Storage, *, owner_id: int) -> Removed:
    """Everything a key owns: its finished jobs expire now and its saved styles are deleted,
    with the files nothing else needs. Unfinished jobs are left to finish (cancel them first)."""
    removed = expire_jobs(session, storage, crud.owned_jobs(session, owner_id=owner_id))
    style_files = crud.delete_styles_of(session, owner_id=owner_id)
    removed.files += delete_unused(session, storage, style_files)
    return removed


def sweep_once(factory: sessionmaker[Session], storage: Storage, settings: Settings) -> Removed:
    with factory() as session:
        removed = sweep(session, storage, settings)
    if removed.jobs:
        log.info("retention: %d jobs expired, %d files deleted", removed.jobs, removed.files)
    return removed


async def run_forever(factory: sessionmaker[Session], storage: Storage, settings: Settings) -> None:
    await run_every(
        settings.retention_interval_s, "retention", sweep_once, factory, storage, settings
    )
