"""Model files: list (any key), upload and activate (admin keys).

Uploads are checked without torch (safetensors header + `atelier` metadata); the worker checks
the tensors when it loads the file and fails the job with `model_invalid` if they are wrong.
"""

from fastapi import APIRouter, Request, Response

from app import crud
from app.api.deps import AdminKey, CurrentKey, SessionDep, SettingsDep, StorageDep
from app.api.presenters import model_public
from app.errors import APIError
from app.modelfile import read_model_metadata
from app.schemas import ModelPublic, ModelsPublic
from app.storage import sha256_hex
from app.uploads import BINARY, multipart_openapi, read_form

router = APIRouter(prefix="/v1/models", tags=["models"])

_FORM_SCHEMA = multipart_openapi(
    ["file"], {"file": BINARY, "name": {"type": "string", "maxLength": 200}}
)


@router.get("", response_model=ModelsPublic)
def list_models(_key: CurrentKey, session: SessionDep) -> ModelsPublic:
    """Registered model files; `is_active` marks the default for new jobs."""
    return ModelsPublic(data=[model_public(m) for m in crud.list_models(session)])


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
    info = read_model_metadata(part.data)
    name = form.fields.get("name") or part.filename or "model"
    data = bytes(part.data)
    key = storage.put(data)
    model = crud.create_model(session, name=name[:200], sha256=key, size_bytes=len(data), info=info)
    assert key == sha256_hex(data)
    response.headers["Location"] = f"/v1/models/{model.id}"
    return model_public(model)


@router.post("/{model_id}/activate", response_model=ModelPublic)
def activate_model(model_id: str, _admin: AdminKey, session: SessionDep) -> ModelPublic:
    """Make this model the default for new stylizations (admin)."""
    model = crud.get_model(session, model_id=model_id)
    if model is None:
        raise APIError(404, "model_not_found", f"no model {model_id}")
    return model_public(crud.activate_model(session, model=model))
