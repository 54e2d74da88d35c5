"""`POST /v1/trainings` (admin): train a GAN model on uploaded images, on the training queue.

The finished job registers the model file (see `GET /v1/models`) and can activate it.
"""

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from app import crud, queue
from app.api.deps import AdminKey, QueueDep, SessionDep, SettingsDep, StorageDep
from app.api.presenters import job_public
from app.errors import APIError
from app.images import validate_image
from app.schemas import JobPublic, TrainingCreate
from app.uploads import BINARY, multipart_openapi, read_form

router = APIRouter(prefix="/v1/trainings", tags=["trainings"])

MAX_TRAINING_IMAGES = 60
_FILES = {"type": "array", "items": BINARY}
_FORM_SCHEMA = multipart_openapi(
    ["content", "style"],
    {"content": _FILES, "style": _FILES, **TrainingCreate.model_json_schema()["properties"]},
)


@router.post("", status_code=202, response_model=JobPublic, openapi_extra=_FORM_SCHEMA)
async def create_training(
    request: Request,
    response: Response,
    key: AdminKey,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    client: QueueDep,
) -> JobPublic:
    """Train a model (admin; multipart: repeated `content` and `style` image files)."""
    form = await read_form(
        request,
        max_file_bytes=settings.max_upload_bytes,
        max_parts=MAX_TRAINING_IMAGES + 8,
        multi=frozenset({"content", "style"}),
    )
    if form.files:
        raise APIError(422, "unknown_field", f"unexpected file field(s): {sorted(form.files)}")
    try:
        params = TrainingCreate.model_validate(form.fields)
    except ValidationError as exc:
        raise APIError(422, "invalid_parameter", str(exc.errors()[0]["msg"])) from exc
    parts = {name: form.file_lists.get(name, []) for name in ("content", "style")}
    for name, files in parts.items():
        if not files:
            raise APIError(422, "missing_field", f"at least one '{name}' image is required")
    limits = {"max_pixels": settings.max_pixels, "max_side": settings.max_side}
    clean = {
        name: [
            await run_in_threadpool(validate_image, part.data, field=name, **limits)
            for part in files
        ]
        for name, files in parts.items()
    }
    keys = {
        name: [crud.store_clean_image(session, storage=storage, image=img).sha256 for img in imgs]
        for name, imgs in clean.items()
    }
    job = crud.create_training(
        session,
        owner=key,
        parameters={**params.model_dump(), "content": keys["content"], "style": keys["style"]},
    )
    try:
        await run_in_threadpool(queue.send_train, client, job.id)
        crud.mark_dispatched(session, job_id=job.id)
    except Exception:  # broker down: the reaper sends it later
        request.app.state.logger.exception("could not enqueue job %s", job.id)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job_public(job)
