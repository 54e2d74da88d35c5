"""The store's side of retention (`app.retention` runs the sweep): the finished jobs past the
retention period, the files something live still names, and a key's data to delete.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, select, update
from sqlalchemy.orm import Session

from app.tables import (
    FINISHED,
    ImageSetMember,
    Job,
    JobKind,
    JobStatus,
    ModelFile,
    Style,
    StyleSetStats,
    StyleStats,
)


def expirable_jobs(session: Session, *, finished_before: datetime, limit: int) -> list[Job]:
    """Finished stylization and video jobs older than the retention period, oldest first (a
    clip and its MP4 are the largest files a job keeps)."""
    query = select(Job).where(
        Job.kind.in_((JobKind.stylize, JobKind.video)),
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
    """The storage keys a job's row names: uploads, result, masks (its own and its regions'),
    training preview, checkpoint, a video's poster. (A region's style is a saved or built-in
    style's image: styles never expire, and `files_in_use` keeps it.)"""
    keys = {job.content_sha256, job.style_sha256, job.result_sha256}
    keys.add((job.parameters or {}).get("mask_sha256"))
    keys.update(region.get("mask_sha256") for region in _regions(job.parameters))
    keys.add((job.progress_info or {}).get("preview_sha256"))
    keys.add((job.progress_info or {}).get("checkpoint_sha256"))
    keys.add((job.result_info or {}).get("poster_sha256"))  # a video's first frame
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
        (Job.result_info["poster_sha256"].as_string(), live),
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
    # A region's mask sits in a JSON list, which no portable index reaches: a live job whose
    # parameters' text holds the key (64 hex digits: it names nothing else) still needs it.
    text = cast(Job.parameters, String)
    for key in keys - used:
        if session.scalar(select(Job.id).where(live, text.contains(key)).limit(1)) is not None:
            used.add(key)
    return used


def _regions(parameters: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A job's styled regions (its parameters' `regions`), or none."""
    regions = (parameters or {}).get("regions")
    return [r for r in regions if isinstance(r, dict)] if isinstance(regions, list) else []


def delete_styles_of(session: Session, *, owner_id: int) -> set[str]:
    """Delete a key's saved styles; the storage keys of their images."""
    styles = list(session.scalars(select(Style).where(Style.owner_id == owner_id)))
    for style in styles:
        session.delete(style)
    session.commit()
    return {style.image_sha256 for style in styles}
