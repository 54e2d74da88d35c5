"""API keys: created (the clear key returned once, only its hash stored), looked up, limited; and
the counts a key's limits are checked against.
"""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.security import hash_key, new_key
from app.tables import FINISHED, ApiKey, Job


def create_api_key(
    session: Session, *, name: str, is_admin: bool, **limits: str | int | None
) -> tuple[ApiKey, str]:
    """Store a new key's hash; the clear key is returned once and never stored. `limits`:
    `rate_limit`, `max_active_jobs`, `daily_job_quota` (None: the settings' default)."""
    secret = new_key()
    row = ApiKey(
        name=name, prefix=secret[:8], key_hash=hash_key(secret), is_admin=is_admin, **limits
    )
    session.add(row)
    session.commit()
    return row, secret


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def get_api_key_by_id(session: Session, *, key_id: int) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def set_key_limits(session: Session, *, key: ApiKey, **limits: str | int | None) -> ApiKey:
    """Set some of a key's limits (`rate_limit`, `max_active_jobs`, `daily_job_quota`); a
    None clears one back to the settings' default."""
    for name, value in limits.items():
        setattr(key, name, value)
    session.commit()
    return key


def count_unfinished_jobs(session: Session, *, owner: ApiKey) -> int:
    query = select(func.count()).select_from(Job)
    query = query.where(Job.owner_id == owner.id, Job.status.not_in(FINISHED))
    return int(session.scalar(query) or 0)


def count_jobs_since(session: Session, *, owner: ApiKey, since: datetime) -> int:
    query = select(func.count()).select_from(Job)
    return int(session.scalar(query.where(Job.owner_id == owner.id, Job.created_at >= since)) or 0)


def get_api_key(session: Session, *, secret: str) -> ApiKey | None:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    return row if row is not None and row.revoked_at is None else None


def has_admin_key(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.is_admin)) > 0  # type: ignore[operator]
