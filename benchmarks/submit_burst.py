"""Submit throughput of the API under a burst: N concurrent clients each POST one small job.

    python benchmarks/submit_burst.py [--burst 100] [--stacks embedded,redis_postgres]

For each stack it starts `uvicorn app.main:app` (no worker: this measures the API's side of a
submission, which ends when the job is recorded and enqueued) and sends, in one run:
  - the baseline: the same submissions one after another from a single client;
  - the burst with the default pool (ATELIER_DB_POOL_SIZE, 20 + 10 overflow);
  - the burst with SQLAlchemy's default pool (5 + 10), the size that answered 500s before a
    request stopped holding its connection while its body streamed in.
It prints the answers by status, submissions per second and p50 / p95 / max latency.
Loopback only; bounded by --burst.
"""

import argparse
import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_URL = os.environ.get(
    "ATELIER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ATELIER_TEST_REDIS", "redis://127.0.0.1:6379/11")


def png(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (i % 256, (7 * i) % 256, 90)).save(out, format="PNG")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def submit_all(
    url: str, key: str, count: int, concurrency: int
) -> tuple[Counter[int], list[float], float]:
    style = png(10_000)
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(i: int) -> None:
            async with semaphore:
                start = time.perf_counter()
                response = await client.post(
                    "/v1/stylizations",
                    headers={"Authorization": f"Bearer {key}"},
                    files={"content": ("c.png", png(i)), "style": ("s.png", style)},
                    data={"method": "optimisation"},
                )
                latencies.append(time.perf_counter() - start)
                statuses[response.status_code] += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return statuses, latencies, time.perf_counter() - start


def database(kind: str, tmp: str) -> tuple[dict[str, str], str | None]:
    """The stack's environment, and a scratch PostgreSQL database to drop afterwards."""
    if kind == "embedded":
        return {}, None
    import psycopg
    from sqlalchemy import make_url

    url = make_url(PG_URL)
    name = f"atelier_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        host=url.host, dbname=url.database, user=url.username, autocommit=True
    ) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    env = {
        "ATELIER_DATABASE_URL": url.set(database=name).render_as_string(hide_password=False),
        "ATELIER_BROKER_URL": REDIS_URL,
        "ATELIER_BROKER_KEY_PREFIX": f"atelier-bench-{name}:",
    }
    return env, name


def drop(name: str) -> None:
    import psycopg
    from sqlalchemy import make_url

    url = make_url(PG_URL)
    with psycopg.connect(
        host=url.host, dbname=url.database, user=url.username, autocommit=True
    ) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_stack(kind: str, burst: int) -> list[tuple[str, Counter[int], list[float], float]]:
    from app import crud
    from app.config import Settings
    from app.db import make_engine, make_sessionmaker, upgrade

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        extra, scratch = database(kind, tmp)
        try:
            for label, count, concurrency, pool in (
                ("1 client (baseline)", burst, 1, {}),
                (f"{burst} clients, pool 20+10", burst, burst, {}),
                (
                    f"{burst} clients, pool 5+10",
                    burst,
                    burst,
                    {"ATELIER_DB_POOL_SIZE": "5", "ATELIER_DB_MAX_OVERFLOW": "10"},
                ),
            ):
                env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
                env.update(
                    {
                        "ATELIER_DATA_DIR": tmp,
                        "ATELIER_BUILTIN_MODEL": "",
                        "ATELIER_RUN_REAPER": "false",
                        **extra,
                        **pool,
                    }
                )
                settings = Settings(
                    **{k[8:].lower(): v for k, v in env.items() if k.startswith("ATELIER_")}
                )
                upgrade(settings.sqlalchemy_url)
                engine = make_engine(settings.sqlalchemy_url)
                with make_sessionmaker(engine)() as session:
                    _, key = crud.create_api_key(session, name="bench", is_admin=False)
                engine.dispose()
                port = free_port()
                argv = [
                    "-m",
                    "uvicorn",
                    "app.main:app",
                    "--port",
                    str(port),
                    "--log-level",
                    "error",
                ]
                proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env)
                url = f"http://127.0.0.1:{port}"
                try:
                    for _ in range(300):
                        try:
                            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                                break
                        except httpx.HTTPError:
                            time.sleep(0.1)
                    rows.append((label, *asyncio.run(submit_all(url, key, count, concurrency))))
                finally:
                    proc.terminate()
                    proc.wait(20)
        finally:
            if scratch:
                drop(scratch)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--stacks", default="embedded,redis_postgres")
    args = parser.parse_args()
    print("| stack | run | answers | submissions/s | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---:|---:|---:|---:|")
    for kind in args.stacks.split(","):
        for label, statuses, latencies, wall in run_stack(kind, args.burst):
            ordered = sorted(latencies)
            p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            answers = ", ".join(f"{n}x{s}" for s, n in sorted(statuses.items()))
            print(
                f"| {kind} | {label} | {answers} | {len(latencies) / wall:.1f} | "
                f"{1000 * statistics.median(ordered):.0f} | {1000 * p95:.0f} | "
                f"{1000 * ordered[-1]:.0f} |"
            )


if __name__ == "__main__":
    main()
