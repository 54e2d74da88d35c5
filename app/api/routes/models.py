"""Model registry: list and read (any key); upload, activate, roll back (admin keys).

Uploads are checked without torch (safetensors header + `atelier` metadata); the worker checks
the tensors when it loads the file and fails the job with `model_invalid` if they are wrong.
Models registered by a training job carry a quality-gate verdict: activating one that failed
needs `force` and a `reason`, which the activation log keeps.
"""

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from app import crud
from app.api.deps import AdminKey, CurrentKey, SessionDep, SettingsDep, StorageDep
from app.api.errors import APIError
from app.api.openapi import errors
from app.api.uploads import BINARY, NAME_SCHEMA, form_name, multipart_openapi, read_form
from app.presenters import activation_public, model_public
from app.schemas import ActivationsPublic, ModelActivate, ModelPublic, ModelsPublic
from app.storage import sha256_hex
from app.tables import ModelFile
from contracts.modelfile import ModelFileError, read_model_metadata

router = APIRouter(prefix="/v1/models", tags=["models"])

_FORM_SCHEMA = multipart_openapi(["file"], {"file": BINARY, "name": NAME_SCHEMA})


def _model_or_404(session: SessionDep, model_id: str) -> ModelFile:
    model = crud.get_model(session, model_id=model_id)
    if model is None:
        raise APIError(404, "model_not_found", f"no model {model_id}")
    return model


@router.get("", response_model=ModelsPublic)
def list_models(_key: CurrentKey, session: SessionDep) -> ModelsPublic:
    """Registered model versions, newest first; `is_active` marks the default for new jobs."""
    return ModelsPublic(data=[model_public(m) for m in crud.list_models(session)])


@router.get("/activations", response_model=ActivationsPublic)
def list_activations(_admin: AdminKey, session: SessionDep) -> ActivationsPublic:
    """The activation log, newest first (admin): who activated or rolled back what, and why."""
    return ActivationsPublic(data=[activation_public(a) for a in crud.list_activations(session)])


@router.post("/rollback", response_model=ModelsPublic, responses=errors(409))
def rollback(admin: AdminKey, session: SessionDep) -> ModelsPublic:
    """Re-activate the model that was active before the current one (admin)."""
    found, previous_id = crud.rollback_target(session)
    if not found:
        raise APIError(409, "nothing_to_roll_back", "no earlier activation to return to")
    previous = crud.get_model(session, model_id=previous_id) if previous_id else None
    if previous_id and previous is None:
        raise APIError(409, "nothing_to_roll_back", f"model {previous_id} no longer exists")
    crud.activate_model(session, model=previous, actor=admin, action="rollback")
    return ModelsPublic(data=[model_public(m) for m in crud.list_models(session)])


@router.get("/{model_id}", response_model=ModelPublic)
def get_model(model_id: str, _key: CurrentKey, session: SessionDep) -> ModelPublic:
    """One model version: lineage, evaluation, gate verdict."""
    return model_public(_model_or_404(session, model_id))


@router.get("/{model_id}/contact-sheet", response_class=Response)
def contact_sheet(
    model_id: str, _key: CurrentKey, session: SessionDep, storage: StorageDep
) -> Response:
    """The evaluation's contact sheet (PNG: content, style, result per row)."""
    model = _model_or_404(session, model_id)
    if not model.sheet_sha256:
        raise APIError(404, "no_contact_sheet", f"model {model_id} was not evaluated")
    return Response(storage.get(model.sheet_sha256), media_type="image/png")


@router.post("", status_code=201, response_model=ModelPublic, openapi_extra=_FORM_SCHEMA)
async def upload_model(
    request: Request,
    response: Response,
    _admin: AdminKey,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> ModelPublic:
    """Register a model file made by `atelier train` (admin)."""
    form = await read_form(request, max_file_bytes=settings.max_model_bytes)
    part = form.files.get("file")
    if part is None:
        raise APIError(422, "missing_field", "the model 'file' is required")
    try:
        info = read_model_metadata(part.data)
    except ModelFileError as exc:
        raise APIError(422, "model_invalid", f"not an Atelier model file: {exc}") from exc
    name = form_name(form, part.filename, "model")
    data = bytes(part.data)
    # The lock before the bytes: a database that makes us wait (503) does so before any file is
    # written, and retention cannot delete the file before the model's row names it.
    crud.lock_files(session, {sha256_hex(data)})
    key = storage.put(data)
    model = crud.create_model(session, name=name, sha256=key, size_bytes=len(data), info=info)
    response.headers["Location"] = f"/v1/models/{model.id}"
    return model_public(model)


@router.post("/{model_id}/activate", response_model=ModelPublic, responses=errors(409))
def activate_model(
    model_id: str,
    admin: AdminKey,
    session: SessionDep,
    body: Annotated[ModelActivate | None, Body()] = None,
) -> ModelPublic:
    """Make this model the default for new stylizations (admin).

    A model that failed its quality gate needs `{"force": true, "reason": "..."}`.
    """
    body = body or ModelActivate()
    model = _model_or_404(session, model_id)
    gate = model.gate or {}
    if body.force and not (body.reason or "").strip():
        raise APIError(422, "reason_required", "forcing an activation needs a reason")
    if gate and not gate.get("passed") and not body.force:
        failures = "; ".join(f["message"] for f in gate.get("failures", []))
        raise APIError(
            409,
            "gate_failed",
            f"model {model_id} failed its quality gate ({failures}); "
            'activate with {"force": true, "reason": "..."} to override',
        )
    crud.activate_model(
        session,
        model=model,
        actor=admin,
        forced=bool(body.force and gate and not gate.get("passed")),
        reason=body.reason,
    )
    return model_public(model)
