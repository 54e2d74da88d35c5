"""A fault run: a loaded service with several faults at once, and the figures that prove nothing is
lost or done twice. Loopback only; bounded in jobs and time; it stops by itself.

    python benchmarks/faults.py [--jobs 200] [--clients 8] [--brokers redis,rabbitmq]

For each broker it starts, on a scratch PostgreSQL database, a private broker (its own
`redis-server` without persistence, or its own RabbitMQ node, on free ports: the machine's shared
servers are never touched), the API (`uvicorn app.main:app`) and two `atelier worker`s, then
`--clients` threads submit `--jobs` small optimisation jobs, each with an Idempotency-Key,
retrying a submission that failed (connection refused, 5xx, 429) with the same key, and poll
their jobs to a final state. During the run it SIGKILLs a worker (and starts another), restarts
the broker (Redis loses every key: no persistence) and restarts the API. Then the same run with
no faults, for comparison.

Printed per run: submitted (distinct keys accepted), succeeded, failed (with codes), lost (no
final state once the clients are done plus --grace seconds), duplicated (two job rows for one
Idempotency-Key, or two different job ids answered for one key; a job row finishes once by
construction, a conditional UPDATE), redelivered (succeeded jobs that needed more than one
attempt: the reaper's or the broker's redelivery at work), p50 / p95 / max latency (first
submission attempt to the final state seen), and for each fault the time to recover: from the
fault to the next job that succeeds (the API restart: to the first answer of /healthz).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from fault_stack import Broker, Service, wait_for  # noqa: E402
from submit_burst import database, drop, png  # noqa: E402

FAST = {
    "ATELIER_ENCODER": "random",
    "ATELIER_DEVICE": "cpu",
    "ATELIER_OPTIMISATION_STEPS": "3",
    "ATELIER_OPTIMISATION_SIZE": "48",
    "ATELIER_BUILTIN_MODEL": "",
    "ATELIER_HEARTBEAT_INTERVAL_S": "0.5",
    "ATELIER_HEARTBEAT_TIMEOUT_S": "5",
    "ATELIER_REAPER_INTERVAL_S": "0.5",
    "ATELIER_REQUEUE_QUEUED_AFTER_S": "8",  # a message Redis lost is re-sent this soon
    "ATELIER_RATE_LIMIT": "",  # one key submits everything: no per-key limits here
    "ATELIER_MAX_ACTIVE_JOBS": "0",
    "ATELIER_DAILY_JOB_QUOTA": "0",
}


@dataclass
class Outcome:
    key: str
    started: float
    job_ids: set[str] = field(default_factory=set)
    status: str | None = None
    error: str | None = None
    finished: float | None = None


def client_loop(
    service: Service, key: str, work: list[int], out: list[Outcome], deadline: float
) -> None:
    """Submit each job (retrying with its Idempotency-Key), then poll it to a final state."""
    style = png(99_999)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=service.url, timeout=10, headers=headers) as client:
        for i in work:
            outcome = Outcome(key=f"fault-run-{i}", started=time.monotonic())
            out.append(outcome)
            while time.monotonic() < deadline:
                try:
                    answer = client.post(
                        "/v1/stylizations",
                        headers={"Idempotency-Key": outcome.key},
                        files={"content": ("c.png", png(i)), "style": ("s.png", style)},
                        data={"method": "optimisation"},
                    )
                except httpx.HTTPError:
                    time.sleep(0.3)
                    continue
                if answer.status_code in (200, 202):
                    outcome.job_ids.add(answer.json()["id"])
                    break
                time.sleep(float(answer.headers.get("Retry-After", "0.3")))
            while outcome.job_ids and time.monotonic() < deadline:
                try:
                    job = client.get(f"/v1/jobs/{next(iter(outcome.job_ids))}").json()
                except (httpx.HTTPError, ValueError):
                    time.sleep(0.3)
                    continue
                if job.get("status") in ("succeeded", "failed", "canceled"):
                    outcome.status = job["status"]
                    outcome.error = (job.get("error") or {}).get("code")
                    outcome.finished = time.monotonic()
                    break
                time.sleep(0.2)


def warm_up(service: Service, key: str) -> None:
    """Two jobs at once, each to success: both workers have started (their one-time imports are
    not counted as latency)."""
    warm: list[Outcome] = []
    threads = [
        threading.Thread(
            target=client_loop, args=(service, key, [-1 - i], warm, time.monotonic() + 120)
        )
        for i in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(o.status != "succeeded" for o in warm):
        raise RuntimeError(f"warm-up jobs did not succeed: {warm}")


def succeeded_count(db_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT count(*) FROM jobs WHERE status = 'succeeded'")).scalar()
                or 0
            )
    finally:
        engine.dispose()


def run(kind: str, faults: bool, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    from app import crud
    from app.db import make_engine, make_sessionmaker, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        extra, scratch = database("redis_postgres", tmp)
        broker = Broker(kind, root)
        service: Service | None = None
        try:
            broker.start()
            env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
            env.update({**FAST, "ATELIER_DATA_DIR": tmp, **extra, "ATELIER_BROKER_URL": broker.url})
            env["ATELIER_BROKER_KEY_PREFIX"] = ""
            db_url = env["ATELIER_DATABASE_URL"]
            upgrade(db_url)
            engine = make_engine(db_url)
            with make_sessionmaker(engine)() as session:
                _, key = crud.create_api_key(session, name="faults", is_admin=False)
            engine.dispose()
            service = Service(root, env)
            service.start_api()
            service.start_worker()
            service.start_worker()
            warm_up(service, key)

            start = time.monotonic()
            deadline = start + args.time_limit
            outcomes: list[Outcome] = []
            shares = [list(range(c, args.jobs, args.clients)) for c in range(args.clients)]
            threads = [
                threading.Thread(target=client_loop, args=(service, key, share, outcomes, deadline))
                for share in shares
            ]
            for thread in threads:
                thread.start()

            recoveries: dict[str, float] = {}
            if faults:
                schedule = [
                    ("SIGKILL a worker", 4.0),
                    (f"restart {kind}", 10.0),
                    ("restart the API", 18.0),
                ]
                for name, at in schedule:
                    time.sleep(max(0.0, start + at - time.monotonic()))
                    before = succeeded_count(db_url)
                    fault_at = time.monotonic()
                    if name.startswith("SIGKILL"):
                        service.kill_worker()
                        service.start_worker()
                    elif name.startswith("restart the API"):
                        service.stop_api()
                        service.start_api()
                        recoveries[name] = time.monotonic() - fault_at
                        continue
                    else:
                        broker.stop()
                        broker.start()
                    wait_for(lambda b=before: succeeded_count(db_url) > b, args.time_limit, name)
                    recoveries[name] = time.monotonic() - fault_at
            for thread in threads:
                thread.join(max(1.0, deadline + args.grace - time.monotonic()))

            engine = create_engine(db_url)
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT idempotency_key, count(*) FROM jobs GROUP BY idempotency_key")
                ).all()
                attempts_done = conn.execute(
                    text("SELECT count(*) FROM jobs WHERE status = 'succeeded' AND attempts > 1")
                ).scalar()
            engine.dispose()
            accepted = [o for o in outcomes if o.job_ids]
            latencies = sorted(o.finished - o.started for o in accepted if o.finished)
            p95 = (
                latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else 0.0
            )
            return {
                "broker": kind,
                "faults": "worker SIGKILL, broker restart, API restart" if faults else "none",
                "submitted": len(accepted),
                "succeeded": sum(o.status == "succeeded" for o in accepted),
                "failed": Counter(o.error for o in accepted if o.status == "failed"),
                "lost": sum(o.status is None for o in accepted) + (args.jobs - len(accepted)),
                "duplicated": sum(n - 1 for _, n in rows if n > 1)
                + sum(len(o.job_ids) > 1 for o in outcomes),
                "redelivered": attempts_done,
                "p50": statistics.median(latencies) if latencies else 0.0,
                "p95": p95,
                "max": latencies[-1] if latencies else 0.0,
                "recoveries": recoveries,
            }
        finally:
            if service is not None:
                service.stop()
            broker.stop()
            if scratch:
                drop(scratch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--brokers", default="redis,rabbitmq")
    parser.add_argument("--grace", type=float, default=60.0)
    parser.add_argument("--time-limit", type=float, default=600.0, help="per run, seconds")
    args = parser.parse_args()
    results = []
    for kind in args.brokers.split(","):
        if kind == "rabbitmq" and shutil.which("rabbitmq-server") is None:
            print("rabbitmq-server not installed: skipping RabbitMQ", file=sys.stderr)
            continue
        for faults in (True, False):
            results.append(run(kind, faults, args))
            print(f"done: {kind} faults={faults}", file=sys.stderr)
    print(
        "| broker | faults | submitted | succeeded | failed | lost | duplicated | "
        "redelivered | p50 s | p95 s | max s | recovery s |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        failed = ", ".join(f"{n}x {c}" for c, n in r["failed"].items()) or "0"
        recovery = "; ".join(f"{k}: {v:.1f}" for k, v in r["recoveries"].items()) or "-"
        print(
            f"| {r['broker']} | {r['faults']} | {r['submitted']} | {r['succeeded']} | {failed} | "
            f"{r['lost']} | {r['duplicated']} | {r['redelivered']} | {r['p50']:.1f} | "
            f"{r['p95']:.1f} | {r['max']:.1f} | {recovery} |"
        )


if __name__ == "__main__":
    main()
