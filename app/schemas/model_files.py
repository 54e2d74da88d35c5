"""The model registry's bodies: the models, the request to activate one, and the log of
activations (which model was made active, by activation or rollback, forced or not, and why)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelPublic(BaseModel):
    id: str
    name: str
    sha256: str
    size_bytes: int
    is_active: bool
    builtin: bool = Field(description="shipped with the code (ATELIER_BUILTIN_MODEL)")
    info: dict[str, Any]
    created_at: datetime
    training_job_id: str | None
    base_model_id: str | None
    lineage: dict[str, Any]
    evaluation: dict[str, Any]
    gate: dict[str, Any] = Field(description="{} for uploaded files (not gated)")
    contact_sheet_url: str | None


class ModelActivate(BaseModel):
    """Optional body of `POST /v1/models/{id}/activate`."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False
    reason: str | None = Field(default=None, max_length=2000)


class ActivationPublic(BaseModel):
    id: int
    action: str
    model_id: str | None
    previous_model_id: str | None
    forced: bool
    reason: str | None
    created_at: datetime


class ActivationsPublic(BaseModel):
    data: list[ActivationPublic]


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
