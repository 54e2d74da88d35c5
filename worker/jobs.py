"""A job's lifecycle in a worker: claim it, run its work under a heartbeat with a progress
callback that checks cancel and the time limit, and record the outcome.

The jobs table, not the broker, is the truth: a job is claimed by one conditional UPDATE, and an
outcome is written only while this worker still holds the job (the reaper may have given it to
another).
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from app import crud, notify
from app.tables import Job, JobKind, JobStatus
from contracts.modelfile import ModelFileError
from contracts.timings import Timings
from worker.runtime import Runtime

log = logging.getLogger("atelier.worker")


class JobCanceled(Exception):
    """Raised from the progress callback when the job's cancel flag is set."""


class JobTimedOut(Exception):
    """Raised from the progress callback past the job's time limit."""


class JobLost(Exception):
    """The reaper gave this job to another worker: stop without writing anything."""


class JobFailed(Exception):
    """Stop the job as failed with a machine-readable code (bad data, diverged training...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Heartbeat:
    """Marks the job alive every few seconds from a thread, so a long step without progress
    calls (model loading, one big tile) does not look like a dead worker."""

    def __init__(self, rt: Runtime, job_id: str) -> None:
        self.rt, self.job_id = rt, job_id
        self.stop = threading.Event()
        self.lost = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.rt.settings.heartbeat_interval_s):
            try:
                with self.rt.sessions() as session:
                    crud.heartbeat(session, job_id=self.job_id, worker=self.rt.name)
            except LookupError:
                self.lost = True
                return
            except Exception:
                log.exception("heartbeat for job %s failed", self.job_id)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


class Progress(Protocol):
    def __call__(
        self, fraction: float, info: dict[str, Any] | None = None, *, force: bool = False
    ) -> None: ...


def make_progress(
    rt: Runtime, job_id: str, started: float, limit_s: float, timings: Timings | None = None
) -> Progress:
    """The callback handed to the model: records progress (and a training job's step, losses,
    preview... as `info`), checks cancel and time limit. Writes are throttled to one per
    ATELIER_CANCEL_CHECK_INTERVAL_S unless `force`; the last call (fraction 1, nothing to
    record) writes nothing: the work is done, and finishing the job sets its progress."""
    interval = rt.settings.cancel_check_interval_s
    last = [0.0]
    timings = timings or Timings()

    def progress(
        fraction: float, info: dict[str, Any] | None = None, *, force: bool = False
    ) -> None:
        now = time.monotonic()
        if now - started > limit_s:
            raise JobTimedOut
        if now - last[0] < interval and fraction < 1.0 and not force:
            return
        if fraction >= 1.0 and info is None and not force:
            return
        last[0] = now
        with timings.stage("db_updates"), rt.sessions() as session:
            try:
                cancel = crud.heartbeat(
                    session, job_id=job_id, worker=rt.name, progress=0.99 * fraction, info=info
                )
            except LookupError as exc:
                raise JobLost from exc
        if cancel:
            raise JobCanceled

    return progress


# A job's work: returns `finish_job` arguments for success (result image, result info), or a
# function that returns them (its last stage, which `run_job` may run on a `Finisher`).
Outcome = dict[str, Any]
Work = Callable[[Runtime, Job, Progress], Outcome | Callable[[], Outcome]]


def time_limit_s(rt: Runtime, job: Job) -> float:
    """ATELIER_TRAINING_TIME_LIMIT_S for training jobs, ATELIER_JOB_TIME_LIMIT_S for the rest."""
    if job.kind == JobKind.train:
        return rt.settings.training_time_limit_s
    return rt.settings.job_time_limit_s


class Finisher:
    """One thread that runs a job's last stage (encode, store, final write) while the worker's
    main thread takes the next job's message and runs its model: on a CPU the two overlap on two
    cores (Pillow and torch release the GIL). At most one job waits for it.

    The guarantees hold: the message is acknowledged once the model ran, but the jobs table is
    the truth: a worker killed before the final write leaves the job `running` with a stopped
    heartbeat, and the reaper gives it to another worker. A clean shutdown waits for the thread
    (concurrent.futures joins its threads at interpreter exit).
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atelier-finisher")
        self._last: Future[Any] | None = None

    def wait(self) -> None:
        """Until the previous job's last stage is done."""
        if self._last is not None:
            self._last.result()

    def submit(self, fn: Callable[[], Any]) -> None:
        def run() -> None:
            # Its failure is that job's (left running, for the reaper), never the next one's.
            try:
                fn()
            except Exception:
                log.exception("a job's last stage failed")

        self.wait()
        self._last = self._pool.submit(run)


def run_job(
    rt: Runtime,
    job_id: str,
    work: Work,
    timings: Timings | None = None,
    *,
    finisher: Finisher | None = None,
    on_done: Callable[[JobStatus | None], None] | None = None,
) -> JobStatus | None:
    """Claim a job, run `work` under a heartbeat, and record the outcome (with `timings`, the
    stages `work` timed, plus the claim, in `result_info.timings`).

    `work` may return, instead of its outcome, a function computing it (its last stage): with a
    `finisher` that stage runs there and this returns None at once; `on_done` gets the final
    status either way.

    Returns the final status, or None when nothing was run (the job was finished, canceled or
    taken), this worker lost the job while running it, or the last stage went to `finisher`.
    """
    timings = timings or Timings()
    with timings.stage("db_updates"), rt.sessions() as session:
        job = crud.claim_job(
            session, job_id=job_id, worker=rt.name, max_attempts=rt.settings.max_attempts
        )
    if job is None:
        log.info("job %s is not queued (finished, canceled or taken): skipping", job_id)
        return None

    def finish(status: JobStatus, **kwargs: Any) -> JobStatus:
        with rt.sessions() as session:
            if crud.finish_job(session, job_id=job_id, worker=rt.name, status=status, **kwargs):
                notify.job_finished(rt.settings, job_id, session)  # wakes `Prefer: wait`
        return status

    started = time.monotonic()
    limit = time_limit_s(rt, job)
    beat = Heartbeat(rt, job_id)

    def settle(produce: Callable[[], Any]) -> Any:
        """Run `produce` and record its outcome: a final status, None, or the next stage."""
        try:
            outcome = produce()
        except JobCanceled:
            return finish(JobStatus.canceled)
        except JobTimedOut:
            return finish(
                JobStatus.failed, error_code="timeout", error_message=f"ran past {limit:g} s"
            )
        except JobLost:
            log.warning("job %s was given to another worker; dropping this run", job_id)
            return None
        except ModelFileError as exc:
            return finish(JobStatus.failed, error_code="model_invalid", error_message=str(exc))
        except JobFailed as exc:
            return finish(JobStatus.failed, error_code=exc.code, error_message=str(exc))
        except Exception as exc:
            log.exception("job %s failed", job_id)
            return finish(
                JobStatus.failed,
                error_code="internal_error",
                error_message=f"{type(exc).__name__}: {exc}",
            )
        if callable(outcome):
            return outcome
        if beat.lost:
            return None
        info = outcome.setdefault("result_info", {})
        info["seconds"] = round(time.monotonic() - started, 3)
        # The last write, which carries these figures, cannot time itself: `wall` ends here.
        info["timings"] = timings.record()
        return finish(JobStatus.succeeded, **outcome)

    def conclude(produce: Callable[[], Any] | None, status: JobStatus | None = None) -> Any:
        """Run the last stage (if any), stop the heartbeat, report the final status."""
        try:
            if produce is not None:
                status = settle(produce)
        finally:
            beat.__exit__()
        if on_done is not None:
            on_done(status)
        return status

    beat.__enter__()
    try:
        first = settle(lambda: work(rt, job, make_progress(rt, job_id, started, limit, timings)))
    except BaseException:
        beat.__exit__()
        raise
    if not callable(first):  # finished (or failed) in one stage
        return conclude(None, first)
    if finisher is None:
        return conclude(first)
    with timings.stage("handoff"):
        finisher.wait()  # the previous job's last stage: one job at a time waits for it
    handed = time.perf_counter()

    def last_stage() -> Any:
        # Until the finisher's thread got the GIL back from the main thread (up to 5 ms).
        timings.stages["handoff"] += time.perf_counter() - handed
        return conclude(first)

    finisher.submit(last_stage)
    return None
