"""`Prefer: wait`'s notifications (app/notify.py) against a real Redis: the worker's
announcement wakes the waiting request, and with no broker to listen to a wait falls back to
polling instead of sleeping through the whole `wait=N`."""

import asyncio
import time
import uuid
from pathlib import Path

from app.config import Settings
from app.notify import JobWaiter, job_finished


def _settings(tmp_path: Path, broker_url: str, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, broker_url=broker_url, **overrides)  # type: ignore[arg-type]


def test_the_workers_announcement_wakes_the_waiting_request(tmp_path, redis_url) -> None:
    settings = _settings(
        tmp_path,
        redis_url,
        broker_key_prefix=f"test-notify-{uuid.uuid4().hex[:8]}:",
        wait_fallback_poll_s=60,  # a poll cannot pass for the notification
    )

    async def scenario() -> tuple[bool, bool]:
        waiter = JobWaiter(settings)
        try:
            with waiter.watch("job-1") as event, waiter.watch("job-2") as other:
                await waiter.ready(timeout=60)
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, job_finished, settings, "job-1")
                woken = await waiter.wait(event, 30)
                return woken, other.is_set()
        finally:
            await waiter.close()

    woken, other_woken = asyncio.run(scenario())
    assert woken and not other_woken


def test_with_no_broker_to_listen_to_a_wait_falls_back_to_polling(tmp_path) -> None:
    settings = _settings(tmp_path, "redis://127.0.0.1:9/0", wait_fallback_poll_s=0.2)

    async def scenario() -> tuple[bool, float]:
        waiter = JobWaiter(settings)
        try:
            with waiter.watch("job") as event:
                start = time.monotonic()
                await waiter.ready(timeout=30)
                woken = await waiter.wait(event, 30)
                return woken, time.monotonic() - start
        finally:
            await waiter.close()

    woken, seconds = asyncio.run(scenario())
    # Back to read the row after a poll interval or two, not after the 30 s asked for.
    assert not woken and seconds < 10
