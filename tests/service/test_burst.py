"""A burst of submissions against a served API (real uvicorn, real HTTP, each stack): no 5xx.

Each request streams its body and has its images decoded with no database connection held, so a
burst larger than the connection pool waits for a connection only to record its job; past
capacity the API answers 503 or 429 with `Retry-After`, never 500.
"""

import asyncio
import io

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from app import crud
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.storage import storage_for
from app.tables import Job

BURST = 100


def _png(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 40), (i % 256, (7 * i) % 256, 90)).save(out, format="PNG")
    return out.getvalue()


def _job_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return int(session.scalar(select(func.count()).select_from(Job)) or 0)
    finally:
        engine.dispose()


def _orphans(settings: Settings) -> set[str]:
    """The files in storage that no row names."""
    storage = storage_for(settings)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            keys = set(storage.keys())
            return keys - crud.files_in_use(session, keys=keys)
    finally:
        engine.dispose()


async def _burst(url: str, key: str) -> list[httpx.Response]:
    style = _png(1000)
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def submit(i: int) -> httpx.Response:
            return await client.post(
                "/v1/stylizations",
                headers={"Authorization": f"Bearer {key}"},
                files={
                    "content": ("c.png", _png(i), "image/png"),
                    "style": ("s.png", style, "image/png"),
                },
                data={"method": "optimisation"},
            )

        return await asyncio.gather(*(submit(i) for i in range(BURST)))


@pytest.mark.every_broker
def test_a_burst_of_100_concurrent_submissions_gets_no_5xx(fresh_stack) -> None:  # noqa: ANN001
    answers = asyncio.run(_burst(fresh_stack.url, fresh_stack.user_key))

    statuses = sorted({r.status_code for r in answers})
    assert set(statuses) <= {202, 429, 503}, (
        statuses,
        [r.text for r in answers if r.status_code not in (202, 429, 503)][:3],
        fresh_stack.logs("api.log"),
    )
    refused = [r for r in answers if r.status_code != 202]
    assert all(r.headers.get("Retry-After", "").isdigit() for r in refused)
    assert all(r.json()["error"]["code"] for r in refused)
    # Every 202 is a recorded job, and a refused submission recorded none.
    accepted = {r.json()["id"] for r in answers if r.status_code == 202}
    assert _job_count(fresh_stack.settings.sqlalchemy_url) == len(accepted)
    assert len(accepted) == BURST, f"{len(refused)} of {BURST} refused: {statuses}"


def test_past_capacity_the_api_answers_503_with_retry_after(stack_with) -> None:  # noqa: ANN001
    """One pooled connection and no wait for it: the burst overflows the pool, and the
    overflow is a 503 `service_busy` with Retry-After, its job not recorded; never a 500."""
    with stack_with(
        ATELIER_DB_POOL_SIZE="1", ATELIER_DB_MAX_OVERFLOW="0", ATELIER_DB_POOL_TIMEOUT_S="0.001"
    ) as stack:
        answers = asyncio.run(_burst(stack.url, stack.user_key))

        assert {r.status_code for r in answers} <= {202, 503}, stack.logs("api.log")
        busy = [r for r in answers if r.status_code == 503]
        assert busy, "a one-connection pool with no wait took a burst of 100 without refusing"
        assert {r.json()["error"]["code"] for r in busy} == {"service_busy"}
        assert {r.headers["Retry-After"] for r in busy} == {"2"}
        accepted = {r.json()["id"] for r in answers if r.status_code == 202}
        assert _job_count(stack.settings.sqlalchemy_url) == len(accepted)
        # Nothing left behind by a refused submission: every file in storage is named by a row
        # (a job, a built-in style...); the waits for the database all come before the put.
        assert _orphans(stack.settings) == set()
