"""`/v1/admin/keys`: an admin creates keys, lists them and sets each key's limits."""

from typing import Any

from fastapi import APIRouter

from app import crud, retention
from app.api.deps import AdminKey, SessionDep, SettingsDep, StorageDep
from app.api.errors import APIError
from app.config import Settings
from app.limits import KeyLimits
from app.schemas import (
    ErrorPublic,
    KeyAdminPublic,
    KeyCreate,
    KeyCreated,
    KeyDataDeleted,
    KeyLimitsPublic,
    KeyLimitsUpdate,
    KeysAdminPublic,
)
from app.tables import ApiKey

router = APIRouter(prefix="/v1/admin/keys", tags=["keys"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 422)
}
_LIMITS = ("rate_limit", "max_active_jobs", "daily_job_quota")
_COLUMNS = ("id", "name", "prefix", "is_admin", "created_at", "revoked_at")


def key_admin_public(key: ApiKey, settings: Settings) -> KeyAdminPublic:
    limits = KeyLimits.of(key, settings)
    return KeyAdminPublic(
        **{name: getattr(key, name) for name in _COLUMNS},
        own_limits=KeyLimitsUpdate(**{name: getattr(key, name) for name in _LIMITS}),
        limits=KeyLimitsPublic(
            rate_limit=limits.rate,
            max_active_jobs=limits.max_active_jobs,
            daily_job_quota=limits.daily_job_quota,
        ),
    )


def key_or_404(session: SessionDep, key_id: int) -> ApiKey:
    key = crud.get_api_key_by_id(session, key_id=key_id)
    if key is None:
        raise APIError(404, "key_not_found", f"no key {key_id}")
    return key


@router.get("", response_model=KeysAdminPublic, responses=_ERRORS)
def list_keys(_admin: AdminKey, session: SessionDep, settings: SettingsDep) -> KeysAdminPublic:
    """Every key with its own limits and the limits in force (never a secret)."""
    return KeysAdminPublic(
        data=[key_admin_public(k, settings) for k in crud.list_api_keys(session)]
    )


@router.post("", status_code=201, response_model=KeyCreated, responses=_ERRORS)
def create_key(
    body: KeyCreate, _admin: AdminKey, session: SessionDep, settings: SettingsDep
) -> KeyCreated:
    """Create a key, optionally with its own limits; its secret is in this answer only."""
    limits = body.model_dump(include=set(_LIMITS))
    row, secret = crud.create_api_key(session, name=body.name, is_admin=body.is_admin, **limits)
    return KeyCreated(**key_admin_public(row, settings).model_dump(), key=secret)


@router.patch("/{key_id}", response_model=KeyAdminPublic, responses=_ERRORS)
def set_limits(
    key_id: int,
    body: KeyLimitsUpdate,
    _admin: AdminKey,
    session: SessionDep,
    settings: SettingsDep,
) -> KeyAdminPublic:
    """Set a key's limits: the fields given (null: back to the default), others unchanged."""
    key = key_or_404(session, key_id)
    key = crud.set_key_limits(session, key=key, **body.model_dump(include=body.model_fields_set))
    return key_admin_public(key, settings)


@router.delete("/{key_id}/data", response_model=KeyDataDeleted, responses=_ERRORS)
def delete_key_data(
    key_id: int, _admin: AdminKey, session: SessionDep, storage: StorageDep
) -> KeyDataDeleted:
    """Delete everything a key owns: its finished jobs' files (the jobs are kept, `expired`)
    and its saved styles; files still used by others stay. Unfinished jobs are left running."""
    key = key_or_404(session, key_id)
    removed = retention.delete_key_data(session, storage, owner_id=key.id)
    return KeyDataDeleted(jobs_expired=removed.jobs, files_deleted=removed.files)
