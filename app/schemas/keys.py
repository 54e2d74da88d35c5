"""API keys as an admin manages them: creating a key, setting its limits, and what is shown of
it (the secret only once, when it is created)."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.limits import parse_rate
from app.schemas.fields import Name


def _check_rate(value: str) -> str:
    parse_rate(value)  # ValueError: not in the `limits` notation
    return value


# A rate in the `limits` notation: "60/minute", "1000/hour"; "" for no rate limit.
RateLimit = Annotated[
    str, AfterValidator(_check_rate), Field(max_length=64, examples=["60/minute"])
]


class KeyLimitsUpdate(BaseModel):
    """A key's own limits; a field given as null goes back to the settings' default."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: RateLimit | None = None
    max_active_jobs: int | None = Field(default=None, ge=0, description="0: no limit")
    daily_job_quota: int | None = Field(default=None, ge=0, description="0: no limit")


class KeyCreate(KeyLimitsUpdate):
    name: Name
    is_admin: bool = False


class KeyLimitsPublic(BaseModel):
    rate_limit: str
    max_active_jobs: int
    daily_job_quota: int


class KeyAdminPublic(BaseModel):
    id: int
    name: str
    prefix: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None
    own_limits: KeyLimitsUpdate = Field(description="set by an admin; null: the default")
    limits: KeyLimitsPublic = Field(description="in force: its own, else the defaults")


class KeyCreated(KeyAdminPublic):
    key: str = Field(description="the secret, shown only in this answer")


class KeysAdminPublic(BaseModel):
    data: list[KeyAdminPublic]


class KeyDataDeleted(BaseModel):
    jobs_expired: int
    files_deleted: int
