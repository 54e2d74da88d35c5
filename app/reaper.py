"""The reaper: makes the jobs table, not the broker, decide what runs.

Brokers can strand a task (Redis restarts; a long visibility timeout; kombu's SQL transport
hides a delivered message until the worker shuts down cleanly, so a killed worker's message is
never seen again). Workers heartbeat their running job; this loop, run by every API process,
re-queues jobs whose heartbeat went stale and re-sends queued jobs whose message may be lost.
Redelivery is harmless because a job is claimed by one conditional UPDATE.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from app import crud, queue
from app.config import Settings

log = logging.getLogger("atelier.reaper")


def reap_once(
    factory: sessionmaker[Session], client: Celery, settings: Settings
) -> list[tuple[str, str]]:
    with factory() as session:
        ids = crud.reap(
            session,
            heartbeat_timeout=timedelta(seconds=settings.heartbeat_timeout_s),
            requeue_after=timedelta(seconds=settings.requeue_queued_after_s),
            max_attempts=settings.max_attempts,
        )
        for job_id, kind in ids:
            if queue.dispatch(client, session, job_id=job_id, kind=kind, log=log):
                log.warning("re-sent job %s to the queue", job_id)
        # A child failed or canceled above has no worker to end its campaign: end it here.
        for campaign in crud.finish_ended_campaigns(session):
            log.warning("ended campaign %s: its children all finished", campaign.id)
            if campaign.webhook_url:
                queue.send_campaign_webhook(client, campaign.id)
    return ids


async def run_every(interval_s: float, what: str, fn: Callable[..., object], *args: Any) -> None:
    """Run `fn(*args)` in a thread every `interval_s` seconds, forever; a failed pass is logged
    and the next one comes all the same."""
    while True:
        try:
            await asyncio.to_thread(fn, *args)
        except Exception:
            log.exception("%s pass failed; retrying", what)
        await asyncio.sleep(interval_s)


async def run_forever(factory: sessionmaker[Session], client: Celery, settings: Settings) -> None:
    await run_every(settings.reaper_interval_s, "reaper", reap_once, factory, client, settings)
