"""Per-key limits on job submissions: a rate, a number of unfinished jobs, a daily quota.

The rate uses the `limits` library's fixed-window algorithm; its counters live in Redis when the
broker is Redis (shared by every API process), else in the job store (`rate_counters`, one
upsert per submission: the embedded stack, and RabbitMQ deployments). Unfinished jobs and the
day's jobs are counted from the jobs table itself, which is the truth for both. A key's own
limits (set by an admin) replace the settings' defaults; a refusal is `LimitExceeded`, which the
API answers 429 with Retry-After, before anything is stored.
"""

import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from limits import RateLimitItem, parse
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import case, delete
from sqlalchemy.orm import Session, sessionmaker

from app import crud
from app.config import Settings
from app.db import dialect_insert, utcnow
from app.errors import DomainError
from app.tables import ApiKey, RateCounter

log = logging.getLogger("atelier.limits")


class LimitExceeded(DomainError):
    """A key is over one of its limits (HTTP 429 with Retry-After)."""

    def __init__(self, code: str, message: str, retry_after_s: int) -> None:
        super().__init__(code, message)
        self.retry_after_s = max(1, retry_after_s)


def parse_rate(text: str) -> RateLimitItem | None:
    """A rate in the `limits` notation ("60/minute"); empty: no rate limit; else ValueError."""
    if not text.strip():
        return None
    return parse(text)


@dataclass(frozen=True)
class KeyLimits:
    """A key's effective limits: its own where an admin set them, else the defaults."""

    rate: str
    max_active_jobs: int  # 0: none
    daily_job_quota: int  # 0: none

    @classmethod
    def of(cls, key: ApiKey, settings: Settings) -> "KeyLimits":
        return cls(
            rate=key.rate_limit if key.rate_limit is not None else settings.rate_limit,
            max_active_jobs=key.max_active_jobs
            if key.max_active_jobs is not None
            else settings.max_active_jobs,
            daily_job_quota=key.daily_job_quota
            if key.daily_job_quota is not None
            else settings.daily_job_quota,
        )


class DatabaseStorage(Storage):
    """The `limits` counters in the job store, for stacks without Redis (fixed window only)."""

    STORAGE_SCHEME = None

    def __init__(self, factory: sessionmaker[Session]) -> None:
        super().__init__()
        self.factory = factory

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return Exception

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        expired = RateCounter.expires_at <= now
        with self.factory() as session:
            insert = dialect_insert(session)(RateCounter).values(
                key=key, count=amount, expires_at=now + expiry
            )
            # One statement: a counter whose window ended starts again, else it adds up.
            count = session.scalar(
                insert.on_conflict_do_update(
                    index_elements=["key"],
                    set_={
                        "count": case((expired, amount), else_=RateCounter.count + amount),
                        "expires_at": case((expired, now + expiry), else_=RateCounter.expires_at),
                    },
                ).returning(RateCounter.count)
            )
            session.commit()
        return int(count or 0)

    def _row(self, key: str) -> RateCounter | None:
        with self.factory() as session:
            row = session.get(RateCounter, key)
        return row if row is not None and row.expires_at > time.time() else None

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.count if row is not None else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row.expires_at if row is not None else time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self.factory() as session:
            deleted = session.execute(delete(RateCounter)).rowcount  # type: ignore[attr-defined]
            session.commit()
        return int(deleted)

    def clear(self, key: str) -> None:
        with self.factory() as session:
            session.execute(delete(RateCounter).where(RateCounter.key == key))
            session.commit()


class SubmissionLimits:
    """Checks a key's limits before a job is submitted (one per API process)."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self.settings = settings
        storage: Storage
        if settings.celery_broker_url.startswith(("redis://", "rediss://")):
            prefix = f"{settings.broker_key_prefix}atelier-limits"
            storage = RedisStorage(settings.celery_broker_url, key_prefix=prefix)
        else:
            storage = DatabaseStorage(factory)
        self.limiter = FixedWindowRateLimiter(storage)

    def _check_active(self, session: Session, key: ApiKey, limits: KeyLimits) -> None:
        if not limits.max_active_jobs:
            return
        active = crud.count_unfinished_jobs(session, owner=key)
        if active >= limits.max_active_jobs:
            raise LimitExceeded(
                "too_many_active_jobs",
                f"this key has {active} unfinished jobs, its limit: wait for one to finish",
                self.settings.active_jobs_retry_after_s,
            )

    def _check_daily(self, session: Session, key: ApiKey, limits: KeyLimits) -> None:
        if not limits.daily_job_quota:
            return
        now = utcnow()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = crud.count_jobs_since(session, owner=key, since=midnight)
        if today >= limits.daily_job_quota:
            tomorrow = midnight + timedelta(days=1)
            raise LimitExceeded(
                "quota_exceeded",
                f"this key's daily quota of {limits.daily_job_quota} jobs is used (UTC day)",
                math.ceil((tomorrow - now).total_seconds()),
            )

    def hold_job_counts(self, session: Session, key: ApiKey) -> None:
        """The job counts (unfinished, today's) once more, in the transaction that will insert
        the job and before its files are written: the key's row is held (`crud.lock_key`) until
        that transaction ends, so a burst of a key's submissions cannot all pass counts taken
        before any of them inserted its job (the early check, before the body is read, spares
        the upload of most refused ones)."""
        limits = KeyLimits.of(key, self.settings)
        if limits.max_active_jobs or limits.daily_job_quota:
            crud.lock_key(session, key_id=key.id)
            self._check_active(session, key, limits)
            self._check_daily(session, key, limits)

    def check(self, session: Session, key: ApiKey) -> None:
        """Raise LimitExceeded when `key` may not submit a job now; else count this submission
        against its rate. The job counts come first: they consume nothing."""
        limits = KeyLimits.of(key, self.settings)
        self._check_active(session, key, limits)
        self._check_daily(session, key, limits)
        # The counts' connection goes back before the rate counter takes one of its own: a
        # request holding two at once would, in a burst, leave the pool with none to give.
        session.close()
        rate = parse_rate(limits.rate)
        if rate is None:
            return
        try:
            allowed = self.limiter.hit(rate, "submit", str(key.id))
            reset = self.limiter.get_window_stats(rate, "submit", str(key.id)).reset_time
        except Exception:
            # The counters' store is down (Redis restarting): let the submission through
            # rather than fail it; the job counts above still hold.
            log.warning("rate limiter unavailable; submission allowed", exc_info=True)
            return
        if not allowed:
            raise LimitExceeded(
                "rate_limited",
                f"this key may submit {limits.rate}",
                math.ceil(reset - time.time()),
            )
