"""The stages of a stylization job, timed by the worker and by the API, each named once.

The worker records its stages in `result_info.timings` (seconds) and the API serves them as the
`atelier_job_stage_seconds` histogram; the API times its own stages per request, answers them in
a `Server-Timing` header and counts them in `atelier_api_stage_seconds`. The README's "Where a
job's time goes" explains each stage.
"""

import contextlib
import time
from collections.abc import Iterator

# The worker's stages, in the order a job goes through them. `wall` (not a stage) is the time
# from the API's sending of the task to the worker's last write; the stages add up to it.
WORKER_STAGES = (
    "dequeue_delay",  # from the API's send to the task's start in the worker
    "load_inputs",  # storage reads, the job's model (loaded once per worker process)
    "decode",  # PNG/JPEG bytes to pixels
    "style_stats",  # the style's statistics (cached per worker for a saved style)
    "model",  # the stylizer call itself
    "regions",  # protected regions put back from the photo (only when a job asks)
    "encode",  # the result to the output format, labelled (and signed, with a C2PA key)
    "store",  # the result's bytes and row
    "db_updates",  # claiming the job, progress writes
    "handoff",  # waiting for the previous job's last stage to leave the worker's finisher
)
# The API's stages for a submission (`serve_result` for a result download).
API_STAGES = ("read_body", "validate", "store", "insert", "enqueue", "wait", "serve_result")


class Timings:
    """Seconds spent in each stage of one piece of work.

    A stage nested in another (a progress write inside the model call, a storage write inside
    the insert) counts for itself only, not for its parent too, so the stages add up to the wall
    time. `enqueued_at` (the sender's clock when it sent the task, epoch seconds) gives the
    dequeue delay; the API and the worker read the same clock on one machine (on several,
    keep their clocks in sync: NTP).
    """

    def __init__(self, enqueued_at: float | None = None) -> None:
        self.started = time.perf_counter()
        self.dequeue_delay = max(0.0, time.time() - enqueued_at) if enqueued_at else 0.0
        self.stages: dict[str, float] = {}
        if enqueued_at:
            self.stages["dequeue_delay"] = self.dequeue_delay
        self._nested: list[float] = []  # per open stage: seconds of the stages inside it
        self._lap_start = self.started
        self._timed_since_lap = 0.0  # seconds of stages timed since the last `lap`

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self._nested.append(0.0)
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            inner = self._nested.pop()
            self.stages[name] = self.stages.get(name, 0.0) + spent - inner
            if self._nested:
                self._nested[-1] += spent
            else:
                self._timed_since_lap += spent

    def lap(self, name: str) -> None:
        """Count the time since the last lap (or the start), less the stages timed inside it,
        as stage `name`: `timings.lap("validate")` after the validation's last line."""
        now = time.perf_counter()
        spent = now - self._lap_start - self._timed_since_lap
        self.stages[name] = self.stages.get(name, 0.0) + spent
        self._lap_start, self._timed_since_lap = now, 0.0

    def wall(self) -> float:
        """Seconds from the sending (or from this object's making) until now."""
        return self.dequeue_delay + time.perf_counter() - self.started

    def record(self) -> dict[str, float]:
        """The stages so far and `wall`, in seconds rounded to 0.1 ms."""
        return {**{k: round(v, 4) for k, v in self.stages.items()}, "wall": round(self.wall(), 4)}

    def server_timing(self) -> str:
        """The stages as a `Server-Timing` header value (milliseconds)."""
        return ", ".join(f"{k};dur={1000 * v:.1f}" for k, v in self.stages.items())
