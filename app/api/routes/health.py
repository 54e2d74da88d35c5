"""Liveness and readiness (no API key: meant for probes), and Prometheus metrics (an admin key,
unless ATELIER_METRICS_PUBLIC)."""

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from app import crud, queue
from app.api.deps import MetricsAccess
from app.api.errors import error_body
from app.api.timing import STAGE_BUCKETS
from app.db import check_migrated
from app.schemas import ErrorPublic
from app.tables import JobStatus
from contracts.timings import WORKER_STAGES

router = APIRouter(tags=["health"])

_METRICS_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403)
}
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database (migrated) and the broker answer."""
    state = request.app.state
    checks: dict[str, str] = {}

    def check_db() -> None:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        check_migrated(state.engine)

    for name, check in (("database", check_db), ("broker", lambda: queue.ping(state.queue))):
        try:
            await run_in_threadpool(check)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {exc}"
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    body = error_body("not_ready", "a dependency is unavailable", checks=checks)
    return JSONResponse(body, status_code=503)


class JobStoreCollector(Collector):
    """Reads job counts and latencies from the database at scrape time.

    The jobs table is the truth and the API process never sees jobs finish, so counting there
    (rather than in per-process counters) gives the same numbers from any API replica.
    """

    def __init__(self, state: object) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        with state.sessionmaker() as session:  # type: ignore[attr-defined]
            counts = crud.job_counts(session)
            durations = crud.finished_durations(session)
            timings = crud.stage_timings(session)
        jobs = GaugeMetricFamily("atelier_jobs", "Jobs by status", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status.value], counts.get(status.value, 0))
        yield jobs
        buckets = [(str(b), sum(1 for d in durations if d <= b)) for b in LATENCY_BUCKETS]
        buckets.append(("+Inf", len(durations)))
        yield HistogramMetricFamily(
            "atelier_job_latency_seconds",
            "Time from submission to success",
            buckets=buckets,
            sum_value=sum(durations),
        )
        stages = HistogramMetricFamily(
            "atelier_job_stage_seconds",
            "Seconds a worker spent in each stage of a succeeded stylization job "
            "(result_info.timings; wall: from the API's send to the worker's last write)",
            labels=["stage"],
        )
        for stage in (*WORKER_STAGES, "wall"):
            seconds = [t[stage] for t in timings if stage in t]
            stage_buckets = [(str(b), sum(1 for s in seconds if s <= b)) for b in STAGE_BUCKETS]
            stage_buckets.append(("+Inf", len(seconds)))
            stages.add_metric([stage], stage_buckets, sum(seconds))
        yield stages
        depth = GaugeMetricFamily(
            "atelier_queue_depth", "Messages waiting in the broker", labels=["queue"]
        )
        try:
            for name, n in queue.queue_depths(state.queue).items():  # type: ignore[attr-defined]
                depth.add_metric([name], n)
        except Exception:  # broker down: report no sample rather than fail the scrape
            pass
        yield depth


@router.get("/metrics", response_class=Response, responses=_METRICS_ERRORS)
async def metrics(request: Request, _access: MetricsAccess) -> Response:
    """Prometheus metrics: jobs by status, job latency and stage histograms, queue depth."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobStoreCollector(request.app.state))
    registry.register(request.app.state.api_stage_seconds)
    payload = await run_in_threadpool(generate_latest, registry)
    return Response(payload, media_type="text/plain; version=0.0.4; charset=utf-8")
