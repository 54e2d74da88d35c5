"""How a `Prefer: wait` submission learns that its job finished, without polling the jobs table
every 100 ms.

- Redis broker: the worker publishes the job's id on a pub/sub channel right after its final
  write; each API process holds one subscription and wakes the requests waiting for that id.
- PostgreSQL job store (any other broker): the same through `NOTIFY` / `LISTEN`.
- Embedded stack (SQLite, no server to push anything): the jobs table is polled, every
  `ATELIER_WAIT_POLL_INTERVAL_S` (25 ms).

A notification only wakes a request: it then reads the job's row, which stays the truth. A
missed notification (the listener reconnecting, a job failed by the reaper) costs at most
`ATELIER_WAIT_FALLBACK_POLL_S`, since waiting requests still read the row that often.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from app.config import Settings

log = logging.getLogger("atelier.notify")

CHANNEL = "atelier_job_finished"  # a valid PostgreSQL identifier, so LISTEN needs no quoting


def channel(settings: Settings) -> str:
    """The Redis channel: pub/sub ignores database numbers, so the key prefix separates
    deployments (and test runs) sharing a server."""
    return f"{settings.broker_key_prefix}{CHANNEL}"


def kind(settings: Settings) -> str:
    """`redis`, `postgres` or `poll`: how this deployment's waits learn of finished jobs."""
    if settings.celery_broker_url.startswith(("redis://", "rediss://")):
        return "redis"
    if settings.sqlalchemy_url.startswith("postgresql"):
        return "postgres"
    return "poll"


# --- the worker's side --------------------------------------------------------------------------


@lru_cache
def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def job_finished(settings: Settings, job_id: str, session: Any = None) -> None:
    """Tell waiting API processes that `job_id` reached a final status (after the commit).
    `session`: a SQLAlchemy session on the job store, for PostgreSQL's NOTIFY. Never raises:
    a lost notification costs a waiting request one fallback poll, not the job."""
    try:
        how = kind(settings)
        if how == "redis":
            _redis(settings.celery_broker_url).publish(channel(settings), job_id)
        elif how == "postgres" and session is not None:
            from sqlalchemy import text

            session.execute(text("SELECT pg_notify(:c, :id)"), {"c": CHANNEL, "id": job_id})
            session.commit()
    except Exception:
        log.warning("could not announce that job %s finished", job_id, exc_info=True)


# --- the API's side -----------------------------------------------------------------------------


class JobWaiter:
    """Wakes requests waiting for jobs: `with waiter.watch(job_id) as event`, then
    `await waiter.wait(event, seconds)` until the job's row says it finished."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kind = kind(settings)
        self.poll_s = (
            settings.wait_poll_interval_s if self.kind == "poll" else settings.wait_fallback_poll_s
        )
        self._events: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        if self.kind != "poll" and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen())
        event = asyncio.Event()
        self._events.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._events.get(job_id, set())
            events.discard(event)
            if not events:
                self._events.pop(job_id, None)

    async def ready(self, timeout: float) -> None:
        """Wait (at most `timeout`, and never past one poll interval: a broker that does not
        answer leaves the wait to polling) until the listener is subscribed, so that a job
        finishing from now on is announced to it."""
        if self.kind != "poll":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listening.wait(), min(timeout, self.poll_s))

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Until the event is set or `seconds` (at most one poll interval) pass; whether a
        notification came."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), min(seconds, self.poll_s))
        woken = event.is_set()
        event.clear()
        return woken

    def _wake(self, job_id: str) -> None:
        for event in self._events.get(job_id, ()):
            event.set()

    async def _listen(self) -> None:
        listen = self._listen_redis if self.kind == "redis" else self._listen_postgres
        while True:
            try:
                await listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("job notifications lost; reconnecting in 1 s", exc_info=True)
            self._listening.clear()
            await asyncio.sleep(1)

    async def _listen_redis(self) -> None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self.settings.celery_broker_url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(channel(self.settings))
                self._listening.set()
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._wake(message["data"].decode())
        finally:
            await client.aclose()

    async def _listen_postgres(self) -> None:
        import psycopg
        from sqlalchemy import make_url

        url = make_url(self.settings.sqlalchemy_url)
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self._listening.set()
            async for notify in conn.notifies():
                self._wake(notify.payload)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._listening = asyncio.Event()  # an event belongs to its loop; the next start's is new
