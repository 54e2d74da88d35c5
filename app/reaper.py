"""The reaper: makes the jobs table, not the broker, decide what runs.

Brokers can strand a task (Redis restarts; a long visibility timeout; kombu's SQL transport
hides a delivered message until the worker shuts down cleanly, so a killed worker's message is
never seen again). Workers heartbeat their running job; this loop, run by every API process,
re-queues jobs whose heartbeat went stale and re-sends queued jobs whose message may be lost.
Redelivery is harmless because a job is claimed by one conditional UPDATE.

It also removes a clip's spooled upload (`app.api.uploads`) that an API process killed
mid-request left behind: a file in flight is written to at least every few seconds, so one
untouched for `STALE_UPLOAD_S` belongs to no request.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from app import crud, queue
from app.config import Settings

log = logging.getLogger("atelier.reaper")

STALE_UPLOAD_S = 3600.0


def remove_stale_uploads(folder: Path, older_than_s: float = STALE_UPLOAD_S) -> list[Path]:
    """Delete the spooled uploads in `folder` not written to for `older_than_s` seconds."""
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than_s
    removed = []
    for path in folder.glob("upload-*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # its request ended meanwhile, or another API process
            continue
    return removed


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
    for path in remove_stale_uploads(settings.upload_path):
        log.warning("removed %s: an upload no request finished", path.name)
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
