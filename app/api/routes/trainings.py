"""`/v1/admin/trainings` (admin): fine-tune a model on a style set, on the training queue only.

The job's row shows step, total, losses, images/s, ETA and the latest preview (fixed
validation photos, then their stylized versions); `POST /v1/jobs/{id}/cancel` stops it at the
next step and keeps its last checkpoint. The finished job registers a model version with its
lineage, evaluation, contact sheet and quality-gate verdict (see `/v1/models`).
"""

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from app import crud, queue
from app.api.deps import AdminKey, QueueDep, SessionDep, StorageDep
from app.api.errors import APIError
from app.api.openapi import errors
from app.presenters import job_public
from app.schemas import JobPublic, TrainingCreate
from app.tables import JobKind
from contracts import training

router = APIRouter(prefix="/v1/admin/trainings", tags=["trainings"])


@router.post("", status_code=202, response_model=JobPublic, responses=errors(404))
async def create_training(
    body: TrainingCreate,
    request: Request,
    response: Response,
    key: AdminKey,
    session: SessionDep,
    client: QueueDep,
) -> JobPublic:
    """Start a training job (admin): a style set, optionally a content set and a base model."""
    style_set = crud.get_image_set(session, set_id=body.style_set_id, kind="style")
    if style_set is None:
        raise APIError(404, "style_set_not_found", f"no style set {body.style_set_id}")
    parameters = body.model_dump()
    parameters["style_set_digest"] = style_set.digest
    if body.content_set_id is not None:
        content_set = crud.get_image_set(session, set_id=body.content_set_id, kind="content")
        if content_set is None:
            raise APIError(404, "content_set_not_found", f"no content set {body.content_set_id}")
        parameters["content_set_digest"] = content_set.digest
    active = crud.get_active_model(session)
    if body.base_model_id is not None:
        base = crud.get_model(session, model_id=body.base_model_id)
        if base is None:
            raise APIError(404, "model_not_found", f"no model {body.base_model_id}")
    else:
        # By default a fine-tune of the active model; from scratch when asked or when none is.
        base = active if not body.from_scratch else None
        parameters["base_model_id"] = base.id if base is not None else None
        # From scratch: the gate compares with whatever is active now, if anything.
        parameters["baseline_model_id"] = active.id if active is not None else None
    if base is not None:
        inherited = training.inherited_settings(
            (base.info or {}).get("train_config"), body.model_fields_set
        )
        parameters["inherited"] = inherited
        parameters.update({k: v for k, v in inherited.items() if k in training.BY_API_NAME})
    job = crud.create_training(session, owner=key, parameters=parameters, style_set_id=style_set.id)
    log = request.app.state.logger
    await run_in_threadpool(queue.dispatch, client, session, job_id=job.id, kind=job.kind, log=log)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job_public(job)


@router.get("/{job_id}/preview", response_class=Response, responses=errors(409))
def get_preview(
    job_id: str, _admin: AdminKey, session: SessionDep, storage: StorageDep
) -> Response:
    """The latest preview of a training job (PNG: validation photos, then results)."""
    job = crud.get_job(session, job_id=job_id)
    if job is None or job.kind != JobKind.train:
        raise APIError(404, "job_not_found", f"no training job {job_id}")
    key = (job.progress_info or {}).get("preview_sha256")
    if not key:
        raise APIError(409, "no_preview_yet", f"job {job_id} has no preview yet")
    return Response(storage.get(key), media_type="image/png", headers={"Cache-Control": "no-cache"})
