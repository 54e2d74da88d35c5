"""`POST /v1/stylizations`: validate everything, then store, record and enqueue in that order."""

import ipaddress
import re
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app import crud, queue
from app.api.deps import CurrentKey, QueueDep, SessionDep, SettingsDep, StorageDep, run_db
from app.api.errors import APIError
from app.api.regions import check_mask, check_region_mask, region_parameters, region_styles
from app.api.routes.jobs import result_response
from app.api.timing import TimedStorage, observe_stages
from app.api.uploads import BINARY, Form, multipart_openapi, read_form
from app.config import Settings
from app.credits import recorded_credits, set_credit, style_credit, upload_credit
from app.images import validate_image
from app.limits import SubmissionLimits
from app.notify import JobWaiter
from app.presenters import job_public
from app.schemas import ErrorPublic, JobPublic, StylizationCreate
from app.tables import FINISHED, ApiKey, Job, JobStatus
from contracts.credits import StyleCredit
from contracts.timings import Timings

router = APIRouter(prefix="/v1/stylizations", tags=["stylizations"])

MAX_WAIT_S = 60.0
_FORM_SCHEMA = multipart_openapi(
    ["content"],
    {
        "content": BINARY,
        "style": BINARY,
        "mask": BINARY,
        "masks": {"type": "array", "items": BINARY},
        **StylizationCreate.model_json_schema()["properties"],
    },
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 404, 409, 413, 415, 422, 429, 503)
}


def _wait_seconds(prefer: str | None) -> float:
    match = re.search(r"\bwait=(\d+(?:\.\d+)?)", prefer or "")
    return min(float(match.group(1)), MAX_WAIT_S) if match else 0.0


def _wants_image(accept: str | None) -> bool:
    """`Accept: image/*` (or any image type): a `Prefer: wait` submission that finishes in time
    answers the result's bytes. JSON (the job) stays the default, `*/*` included."""
    return any(part.strip().startswith("image/") for part in (accept or "").split(","))


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())


def check_webhook_host(host: str) -> None:
    """Refuse webhooks to this machine or private networks, a server-side request forgery vector.

    Only literal addresses and `localhost` are checked; names are resolved when delivering.
    """
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        private = not address.is_global
    except ValueError:
        private = host == "localhost" or host.endswith(".localhost")
    if private:
        raise APIError(
            422, "webhook_url_not_allowed", f"webhook host {host} is private or loopback"
        )


async def wait_for_job(request: Request, job: Job, seconds: float) -> Job:
    """Wait until the job's row says it finished or `seconds` pass (the `Prefer: wait=N`
    contract), woken by the worker's notification (app/notify.py) or by polling."""
    deadline = time.monotonic() + seconds
    factory = request.app.state.sessionmaker
    waiter: JobWaiter = request.app.state.job_waiter

    def load() -> Job:
        with factory() as session:
            return session.get(Job, job.id) or job

    with waiter.watch(job.id) as finished:
        await waiter.ready(timeout=seconds)
        while job.status not in FINISHED and (left := deadline - time.monotonic()) > 0:
            await waiter.wait(finished, left)
            job = await run_in_threadpool(load)
    return job


async def replayed_job(
    session: Session, response: Response, key: ApiKey, idempotency_key: str | None
) -> JobPublic | None:
    """The job an earlier submission with this Idempotency-Key made (the answer to a replay,
    its headers set on `response`), or None for a new submission."""
    if not idempotency_key:
        return None
    existing = await run_db(
        session, crud.get_job_by_idempotency_key, owner=key, key=idempotency_key
    )
    if existing is None:
        return None
    response.headers["Location"] = f"/v1/jobs/{existing.id}"
    response.headers["Idempotent-Replayed"] = "true"
    return job_public(existing)


def _parameters(form: Form, settings: Settings) -> StylizationCreate:
    """The form's fields as checked parameters (files: `content` and optionally `style`)."""
    unknown = set(form.files) - {"content", "style", "mask"}
    if unknown:
        raise APIError(422, "unknown_field", f"unexpected file field(s): {sorted(unknown)}")
    try:
        params = StylizationCreate.model_validate(form.fields)
    except ValidationError as exc:
        raise APIError(422, "invalid_parameter", _validation_message(exc)) from exc
    for name in ("tile_size", "working_size"):
        value = getattr(params, name)
        if value is not None and value > settings.max_upload_side:
            # No uploaded photo is larger: the same bound as `atelier stylize` plus this one.
            field = "max_side" if "max_side" in form.fields else name
            raise APIError(422, "invalid_parameter", f"{field}: at most {settings.max_upload_side}")
    if params.webhook_url is not None and not settings.webhook_allow_private:
        check_webhook_host(params.webhook_url.host or "")
    if "content" not in form.files:
        raise APIError(422, "missing_field", "the 'content' image file is required")
    given = [
        "style" in form.files,
        params.style_id is not None,
        params.style_set_id is not None,
        params.style_set_image_id is not None,
    ]
    if sum(given) != 1:
        raise APIError(
            422,
            "style_required",
            "give exactly one of a 'style' file, 'style_id', 'style_set_id' or "
            "'style_set_image_id'",
        )
    return params


def _named_style(
    session: Session, key: ApiKey, params: StylizationCreate
) -> tuple[str | None, StyleCredit | None]:
    """The stored style image a job names (None for a style set or an uploaded style file) and
    its credit (None for an uploaded style file); 404 for a style, set, set image or model that
    does not exist (or is not the key's)."""
    style_sha256: str | None = None
    credit: StyleCredit | None = None
    if params.style_set_id is not None:
        style_set = crud.get_image_set(session, set_id=params.style_set_id, kind="style")
        if style_set is None:
            raise APIError(404, "style_set_not_found", f"no style set {params.style_set_id}")
        credit = set_credit(style_set.name)
    if params.style_set_image_id is not None:
        member = crud.get_style_set_member(session, member_id=params.style_set_image_id)
        if member is None:
            raise APIError(
                404, "style_set_image_not_found", f"no style set image {params.style_set_image_id}"
            )
        style_sha256, credit = member.image_sha256, set_credit(member.filename)
    if params.style_id is not None:
        style = crud.get_style(session, style_id=params.style_id, viewer=key)
        if style is None:
            raise APIError(404, "style_not_found", f"no style {params.style_id}")
        style_sha256, credit = style.image_sha256, style_credit(style)
    if params.model_id is not None and crud.get_model(session, model_id=params.model_id) is None:
        raise APIError(404, "model_not_found", f"no model {params.model_id}")
    return style_sha256, credit


def _check_method(session: Session, params: StylizationCreate) -> None:
    """A GAN job needs a model: its own, or the active one (409 `no_active_model`)."""
    if (
        params.method == "gan"
        and params.model_id is None
        and crud.get_active_model(session) is None
    ):
        raise APIError(
            409,
            "no_active_model",
            "no GAN model is active: name a model_id, ask an admin to activate one, or ask for "
            "method=optimisation (slow)",
        )


def _create_stylization(session: Session, limits: SubmissionLimits, **fields: Any) -> Job:
    """The job and its files in one transaction that first counts the key's jobs again under
    the key's lock (a refusal writes nothing)."""
    limits.hold_job_counts(session, fields["owner"])
    return crud.create_stylization(session, **fields)


def _recorded(params: StylizationCreate, settings: Settings, masks: int = 0) -> dict[str, Any]:
    """The job's parameters as recorded: what the worker needs and what reproduces the result
    (`masks`: how many `masks` files came for the styled regions)."""
    parameters = params.model_dump(
        mode="json", exclude={"style_id", "style_set_id", "model_id", "webhook_url", "max_side"}
    )
    parameters.update(region_parameters(params, max_side=settings.max_upload_side, masks=masks))
    parameters["tile_size"] = params.tile_size or settings.default_tile_size
    # Recorded so that a result can be reproduced (with the model version in result_info).
    parameters["seed"] = params.seed if params.seed is not None else secrets.randbelow(2**31)
    return parameters


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    openapi_extra=_FORM_SCHEMA,
    responses=_ERRORS,
)
async def create_stylization(
    request: Request,
    response: Response,
    key: CurrentKey,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    client: QueueDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    prefer: Annotated[str | None, Header()] = None,
    accept: Annotated[str | None, Header()] = None,
) -> JobPublic | Response:
    """Submit a stylization job (multipart: `content` file and a `style` file, `style_id`,
    `style_set_id` or `style_set_image_id`; `method` gan (default) or optimisation)."""
    timings = Timings()
    replayed = await replayed_job(session, response, key, idempotency_key)
    if replayed is not None:
        return replayed

    # Over a limit of the key's: 429 with Retry-After before the body is read (nothing stored).
    await run_db(session, request.app.state.limits.check, key)
    form = await read_form(
        request, max_file_bytes=settings.max_upload_bytes, multi=frozenset({"masks"})
    )
    timings.lap("read_body")
    params = _parameters(form, settings)
    style_sha256, credit = await run_db(session, _named_style, key, params)
    mask_parts = form.file_lists.get("masks", [])
    # Checks regions and format (422 with a code).
    recorded = _recorded(params, settings, masks=len(mask_parts))
    region_credits = (
        await run_db(session, region_styles, key, recorded["regions"])
        if recorded.get("regions")
        else []
    )
    style_part = form.files.get("style")
    if style_part is not None:
        credit = upload_credit(style_part.filename)
    # Whose styles it is, as known now (the main one, then the regions'): the worker labels the
    # result with them.
    recorded["style_credits"] = recorded_credits(credit, region_credits)
    limits = {"max_pixels": settings.max_pixels, "max_upload_side": settings.max_upload_side}
    content = await run_in_threadpool(
        validate_image, form.files["content"].data, field="content", **limits
    )
    style_image = (
        await run_in_threadpool(validate_image, style_part.data, field="style", **limits)
        if style_part is not None
        else None
    )
    mask_part = form.files.get("mask")
    mask = (
        await run_in_threadpool(check_mask, mask_part.data, **limits)
        if mask_part is not None
        else None
    )

    region_masks = [
        await run_in_threadpool(check_region_mask, part.data, i, **limits)
        for i, part in enumerate(mask_parts)
    ]

    await run_db(session, _check_method, params)
    timings.lap("validate")

    # Everything is valid: only now touch storage and the database.
    job = await run_db(
        session,
        _create_stylization,
        request.app.state.limits,
        storage=TimedStorage(storage, timings),
        owner=key,
        parameters=recorded,
        content=content,
        style_image=style_image,
        mask=mask,
        region_masks=region_masks,
        style_sha256=style_sha256,
        style_id=params.style_id,
        style_set_id=params.style_set_id,
        model_id=params.model_id,
        idempotency_key=idempotency_key,
        webhook_url=str(params.webhook_url) if params.webhook_url else None,
    )
    timings.lap("insert")
    log = request.app.state.logger
    await run_in_threadpool(queue.dispatch, client, session, job_id=job.id, kind=job.kind, log=log)
    timings.lap("enqueue")

    response.headers["Location"] = f"/v1/jobs/{job.id}"
    wait = _wait_seconds(prefer)
    if wait > 0:
        job = await wait_for_job(request, job, wait)
        timings.lap("wait")
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        if job.status in FINISHED:
            response.status_code = 200
        if job.status == JobStatus.succeeded and job.result_sha256 and _wants_image(accept):
            # The result itself, saving the client a second round trip; the job stays at
            # Location. Any other outcome (still running, failed) answers the job as JSON.
            image = await run_db(session, result_response, storage, settings, job.result_sha256)
            image.headers.update(response.headers)
            image.headers["X-Job-Id"] = job.id
            timings.lap("serve_result")
            observe_stages(request, timings, image)
            return image
    observe_stages(request, timings, response)
    return job_public(job)
