"""Jobs: read, list with cursor pagination, download the result, cancel."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from app import crud, retention
from app.api.deps import CurrentKey, SessionDep, SettingsDep, StorageDep
from app.api.errors import APIError
from app.api.openapi import errors
from app.api.timing import observe_stages
from app.config import Settings
from app.presenters import job_public
from app.schemas import JobPublic, JobsPublic
from app.storage import S3Storage, Storage
from app.tables import FINISHED, Job, JobKind, JobStatus
from contracts.timings import Timings

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _job_or_404(session: SessionDep, key: CurrentKey, job_id: str) -> Job:
    # Another key's job answers 404, not 403: its existence is not revealed.
    job = crud.get_job(session, job_id=job_id, viewer=key)
    if job is None:
        raise APIError(404, "job_not_found", f"no job {job_id}")
    return job


@router.get("", response_model=JobsPublic)
def list_jobs(
    key: CurrentKey,
    session: SessionDep,
    status: JobStatus | None = None,
    kind: JobKind | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobsPublic:
    """List your jobs, newest first; pass `next_cursor` back as `cursor` for the next page."""
    try:
        jobs, next_cursor = crud.list_jobs(
            session, viewer=key, status=status, kind=kind, cursor=cursor, limit=limit
        )
    except ValueError as exc:
        raise APIError(422, "invalid_cursor", str(exc)) from exc
    return JobsPublic(data=[job_public(j) for j in jobs], next_cursor=next_cursor)


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, key: CurrentKey, session: SessionDep) -> JobPublic:
    """A job's status, progress (percent and ETA), parameters and result link."""
    return job_public(_job_or_404(session, key, job_id))


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={
        **errors(409, 410),
        307: {"description": "`redirect=1` on S3 storage: to a short-lived presigned URL"},
    },
)
def get_result(
    request: Request,
    job_id: str,
    key: CurrentKey,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    redirect: Annotated[
        bool, Query(description="on S3 storage: 307 to a short-lived presigned URL")
    ] = False,
) -> Response:
    """The stylized image (a video job's MP4) of a succeeded job (or, with `redirect=1` on S3 storage, a 307 to a
    presigned URL valid `ATELIER_RESULT_REDIRECT_EXPIRY_S` seconds)."""
    timings = Timings()
    job = _job_or_404(session, key, job_id)
    if job.status == JobStatus.expired:
        raise APIError(410, "result_expired", f"job {job_id}'s files were deleted (retention)")
    if job.status != JobStatus.succeeded or job.result_sha256 is None:
        raise APIError(409, "job_not_succeeded", f"job {job_id} is {job.status.value}")
    if redirect and isinstance(storage, S3Storage):
        image = crud.require_image(session, sha256=job.result_sha256)
        url = storage.presigned_url(
            image.sha256,
            expires_s=settings.result_redirect_expiry_s,
            content_type=image.content_type,
        )
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    response = result_response(session, storage, settings, job.result_sha256)
    timings.lap("serve_result")
    observe_stages(request, timings, response)
    return response


def result_response(
    session: Session, storage: Storage, settings: Settings, sha256: str
) -> Response:
    """A result image's bytes, cacheable by its owner (the result route, and a `Prefer: wait`
    submission that accepts an image)."""
    image = crud.require_image(session, sha256=sha256)
    return Response(
        storage.get(image.sha256),
        media_type=image.content_type,
        headers={
            # Results never change once written, but they are private to the key's owner.
            "Cache-Control": f"private, max-age={settings.result_cache_max_age_s}, immutable",
            "ETag": f'"{image.sha256}"',
        },
    )


@router.get("/{job_id}/poster", response_class=Response, responses=errors(409, 410))
def get_poster(
    job_id: str, key: CurrentKey, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    """A succeeded video job's poster: its result's first frame, as a JPEG."""
    job = _job_or_404(session, key, job_id)
    if job.status == JobStatus.expired:
        raise APIError(410, "result_expired", f"job {job_id}'s files were deleted (retention)")
    poster = (job.result_info or {}).get("poster_sha256")
    if job.status != JobStatus.succeeded or not poster:
        raise APIError(409, "no_poster", f"job {job_id} is {job.status.value}, with no poster")
    return result_response(session, storage, settings, poster)


@router.delete("/{job_id}/files", response_model=JobPublic, responses=errors(409))
def delete_job_files(
    job_id: str, key: CurrentKey, session: SessionDep, storage: StorageDep
) -> JobPublic:
    """Delete a finished job's uploads and result now (files other jobs, styles or sets still
    use stay); the job is kept, `expired`."""
    job = _job_or_404(session, key, job_id)
    if job.status not in FINISHED:
        raise APIError(409, "job_not_finished", f"job {job_id} is {job.status.value}: cancel it")
    retention.expire_jobs(session, storage, [job])
    session.refresh(job)
    return job_public(job)


@router.post("/{job_id}/cancel", response_model=JobPublic, responses=errors(409))
def cancel_job(job_id: str, key: CurrentKey, session: SessionDep) -> JobPublic:
    """Cancel: a queued job never runs; a running job stops at its next progress check."""
    job = _job_or_404(session, key, job_id)
    if job.status in FINISHED:
        raise APIError(409, "job_finished", f"job {job_id} is already {job.status.value}")
    return job_public(crud.request_cancel(session, job=job))
