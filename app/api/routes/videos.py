"""`POST /v1/videos`: a clip and a style in, a video job out, on the stills' job machinery
(status, progress, cancel, Idempotency-Key, webhooks, `Prefer: wait`). As for stills, everything
is checked first (the clip probed with PyAV, its bytes counted as they stream in), then stored,
recorded and enqueued: a refused clip leaves nothing in storage or the database. The clip goes
to a temporary file as it streams in, is probed there and stored from it, never held in memory;
the file goes with the request."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app import crud, queue
from app.api.deps import CurrentKey, QueueDep, SessionDep, SettingsDep, StorageDep, run_db
from app.api.errors import APIError
from app.api.routes.stylizations import (
    _validation_message,
    _wait_seconds,
    check_webhook_host,
    replayed_job,
    wait_for_job,
)
from app.api.uploads import BINARY, Form, multipart_openapi, read_form
from app.config import Settings
from app.credits import style_credit, upload_credit
from app.images import validate_image
from app.limits import SubmissionLimits
from app.presenters import job_public
from app.schemas import ErrorPublic, JobPublic
from app.storage import Storage
from app.tables import FINISHED, ApiKey, Job
from app.video_uploads import VideoCreate, clip_parameters, probe_upload
from contracts.credits import StyleCredit
from contracts.regions import RegionError, parse_keep_boxes
from contracts.video import VIDEO_ERROR_STATUS, VideoError

router = APIRouter(prefix="/v1/videos", tags=["videos"])

_FORM_SCHEMA = multipart_openapi(
    ["video"],
    {"video": BINARY, "style": BINARY, **VideoCreate.model_json_schema()["properties"]},
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 404, 409, 413, 415, 422, 429, 503)
}


def _parameters(form: Form, settings: Settings) -> VideoCreate:
    """The form's fields as checked parameters (files: `video` and optionally `style`)."""
    unknown = (set(form.files) | set(form.spooled)) - {"video", "style"}
    if unknown:
        raise APIError(422, "unknown_field", f"unexpected file field(s): {sorted(unknown)}")
    try:
        params = VideoCreate.model_validate(form.fields)
    except ValidationError as exc:
        raise APIError(422, "invalid_parameter", _validation_message(exc)) from exc
    if params.max_side is not None and params.max_side > settings.video_max_side:
        raise APIError(422, "invalid_parameter", f"max_side: at most {settings.video_max_side}")
    if params.webhook_url is not None and not settings.webhook_allow_private:
        check_webhook_host(params.webhook_url.host or "")
    if "video" not in form.spooled:
        raise APIError(422, "missing_field", "the 'video' file is required")
    if ("style" in form.files) == (params.style_id is not None):
        raise APIError(422, "style_required", "give exactly one of a 'style' file or 'style_id'")
    return params


def _named_style(
    session: Session, key: ApiKey, params: VideoCreate
) -> tuple[str | None, StyleCredit | None]:
    """The saved style a job names and its credit; 404 for a style that does not exist (or is
    not the key's)."""
    if params.style_id is None:
        return None, None
    style = crud.get_style(session, style_id=params.style_id, viewer=key)
    if style is None:
        raise APIError(404, "style_not_found", f"no style {params.style_id}")
    return style.image_sha256, style_credit(style)


def _check_model(session: Session, params: VideoCreate) -> None:
    """404 for a named model that does not exist; 409 `no_active_model` when no GAN model would
    run the job (a clip is many frames: there is no optimisation method for video)."""
    if params.model_id is not None:
        if crud.get_model(session, model_id=params.model_id) is None:
            raise APIError(404, "model_not_found", f"no model {params.model_id}")
    elif crud.get_active_model(session) is None:
        raise APIError(
            409, "no_active_model", "no GAN model is active: name a model_id or activate one"
        )


def _create_video(session: Session, limits: SubmissionLimits, **fields: Any) -> Job:
    """The job and its files in one transaction under the key's job-count lock (as stills)."""
    limits.hold_job_counts(session, fields["owner"])
    return crud.create_video(session, **fields)


async def _check_and_store(
    request: Request,
    key: ApiKey,
    session: Session,
    storage: Storage,
    settings: Settings,
    form: Form,
    *,
    idempotency_key: str | None,
) -> Job:
    """Check every field, the style and the clip (probed where it was spooled); only then store
    the files and record the job."""
    params = _parameters(form, settings)
    try:
        keep_boxes = parse_keep_boxes(params.keep_boxes) if params.keep_boxes else None
    except RegionError as exc:
        raise APIError(422, exc.code, str(exc)) from exc
    style_sha256, credit = await run_db(session, _named_style, key, params)
    style_part = form.files.get("style")
    style_image = None
    if style_part is not None:
        credit = upload_credit(style_part.filename)
        style_image = await run_in_threadpool(
            validate_image,
            style_part.data,
            field="style",
            max_pixels=settings.max_pixels,
            max_upload_side=settings.max_upload_side,
        )
    video = form.spooled["video"]
    try:
        clip, info = await run_in_threadpool(
            probe_upload,
            video.path,
            sha256=video.sha256,
            max_seconds=settings.video_max_seconds,
            max_side=settings.video_max_side,
        )
    except VideoError as exc:
        raise APIError(VIDEO_ERROR_STATUS.get(exc.code, 422), exc.code, exc.message) from exc
    await run_db(session, _check_model, params)
    recorded = {
        **params.model_dump(
            mode="json", exclude={"style_id", "model_id", "webhook_url", "keep_boxes"}
        ),
        "keep_boxes": [list(b) for b in keep_boxes] if keep_boxes else None,
        "method": "gan",
        "clip": clip_parameters(info),
        "style_credits": [credit.as_dict()] if credit is not None else [],
    }

    # Everything is valid: only now touch storage and the database.
    return await run_db(
        session,
        _create_video,
        request.app.state.limits,
        storage=storage,
        owner=key,
        parameters=recorded,
        clip=clip,
        style_image=style_image,
        style_sha256=style_sha256,
        style_id=params.style_id,
        model_id=params.model_id,
        idempotency_key=idempotency_key,
        webhook_url=str(params.webhook_url) if params.webhook_url else None,
    )


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    openapi_extra=_FORM_SCHEMA,
    responses=_ERRORS,
)
async def create_video(
    request: Request,
    response: Response,
    key: CurrentKey,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    client: QueueDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    prefer: Annotated[str | None, Header()] = None,
) -> JobPublic:
    """Submit a video job (multipart: a `video` clip and a `style` file or `style_id`); the
    result is an MP4 (H.264, the clip's frame rate, its sound copied) with a poster frame."""
    replayed = await replayed_job(session, response, key, idempotency_key)
    if replayed is not None:
        return replayed

    await run_db(session, request.app.state.limits.check, key)
    form = await read_form(
        request,
        max_file_bytes=settings.max_upload_bytes,
        file_limits={"video": settings.video_max_bytes},
        spool=frozenset({"video"}),  # to a file as it streams in: a clip is never in memory
        spool_dir=settings.upload_path,
    )
    with form:  # the spooled clip is removed on every way out: refused, or stored by then
        job = await _check_and_store(
            request, key, session, storage, settings, form, idempotency_key=idempotency_key
        )
    log = request.app.state.logger
    await run_in_threadpool(queue.dispatch, client, session, job_id=job.id, kind=job.kind, log=log)

    response.headers["Location"] = f"/v1/jobs/{job.id}"
    wait = _wait_seconds(prefer)
    if wait > 0:
        job = await wait_for_job(request, job, wait)
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        if job.status in FINISHED:
            response.status_code = 200
    return job_public(job)
