"""The API's own stage timings: a `Server-Timing` header on the answer and the
`atelier_api_stage_seconds` histogram (stage names in `contracts.timings`)."""

from pathlib import Path
from typing import Any

from fastapi import Request, Response
from prometheus_client import Histogram

from app.storage import Storage
from contracts.timings import Timings

# From a millisecond (a row read) to a minute (the longest `Prefer: wait`).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def make_stage_histogram() -> Histogram:
    """One per app (not in the global registry: tests build many apps in one process)."""
    return Histogram(
        "atelier_api_stage_seconds",
        "Seconds the API spent in each stage of a request (contracts.timings.API_STAGES)",
        ["stage"],
        buckets=STAGE_BUCKETS,
        registry=None,
    )


def observe_stages(request: Request, timings: Timings, response: Response) -> None:
    """Count the request's stages in the histogram and answer them as `Server-Timing`."""
    histogram: Histogram = request.app.state.api_stage_seconds
    for stage, seconds in timings.stages.items():
        histogram.labels(stage).observe(seconds)
    response.headers["Server-Timing"] = timings.server_timing()


class TimedStorage:
    """A storage whose writes count as the `store` stage (nested in the caller's stage)."""

    def __init__(self, storage: Storage, timings: Timings) -> None:
        self._storage, self._timings = storage, timings

    def put(self, data: bytes) -> str:
        with self._timings.stage("store"):
            return self._storage.put(data)

    def put_file(self, path: Path) -> str:
        with self._timings.stage("store"):
            return self._storage.put_file(path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)
