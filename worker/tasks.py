"""Celery tasks: thin and idempotent. They take a job id, and the jobs table says what to do."""

import io
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Task

from app import crud, queue
from app.api.presenters import job_public
from app.images import encode
from app.modelfile import read_model_metadata
from app.queue import STYLIZE_TASK, TRAIN_TASK, WEBHOOK_TASK
from app.tables import FINISHED, Job, JobStatus
from worker.celery_app import celery_app
from worker.runtime import Runtime, runtime
from worker.webhooks import sign

log = logging.getLogger("atelier.worker")


class JobCanceled(Exception):
    """Raised from the progress callback when the job's cancel flag is set."""


class JobTimedOut(Exception):
    """Raised from the progress callback past ATELIER_JOB_TIME_LIMIT_S."""


class JobLost(Exception):
    """The reaper gave this job to another worker: stop without writing anything."""


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


def make_progress(rt: Runtime, job_id: str, started: float) -> Any:
    """The callback handed to the model: records progress, checks cancel and time limit."""
    interval = rt.settings.cancel_check_interval_s
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - started > rt.settings.job_time_limit_s:
            raise JobTimedOut
        if now - last[0] < interval and fraction < 1.0:
            return
        last[0] = now
        with rt.sessions() as session:
            try:
                cancel = crud.heartbeat(
                    session, job_id=job_id, worker=rt.name, progress=0.99 * fraction
                )
            except LookupError as exc:
                raise JobLost from exc
        if cancel:
            raise JobCanceled

    return progress


Progress = Callable[[float], None]
Work = Callable[[Runtime, Job, Progress], dict[str, Any]]


def run_job(rt: Runtime, job_id: str, work: Work) -> JobStatus | None:
    """Claim a job, run `work` under a heartbeat, and record the outcome.

    `work` returns `finish_job` arguments for success (result image, result info); the
    outcome is written only while this worker still holds the job. Returns the final status,
    or None when nothing was run (the job was finished, canceled or taken).
    """
    from models.modelfile import ModelFileError

    with rt.sessions() as session:
        job = crud.claim_job(
            session, job_id=job_id, worker=rt.name, max_attempts=rt.settings.max_attempts
        )
    if job is None:
        log.info("job %s is not queued (finished, canceled or taken): skipping", job_id)
        return None

    def finish(status: JobStatus, **kwargs: Any) -> JobStatus:
        with rt.sessions() as session:
            crud.finish_job(session, job_id=job_id, worker=rt.name, status=status, **kwargs)
        return status

    started = time.monotonic()
    with Heartbeat(rt, job_id) as beat:
        try:
            outcome = work(rt, job, make_progress(rt, job_id, started))
        except JobCanceled:
            return finish(JobStatus.canceled)
        except JobTimedOut:
            limit = rt.settings.job_time_limit_s
            return finish(
                JobStatus.failed, error_code="timeout", error_message=f"ran past {limit:g} s"
            )
        except JobLost:
            log.warning("job %s was given to another worker; dropping this run", job_id)
            return None
        except ModelFileError as exc:
            return finish(JobStatus.failed, error_code="model_invalid", error_message=str(exc))
        except Exception as exc:
            log.exception("job %s failed", job_id)
            return finish(
                JobStatus.failed,
                error_code="internal_error",
                error_message=f"{type(exc).__name__}: {exc}",
            )
        if beat.lost:
            return None
        outcome.setdefault("result_info", {})["seconds"] = round(time.monotonic() - started, 3)
        return finish(JobStatus.succeeded, **outcome)


def load_stylizer(rt: Runtime, job: Job) -> tuple[Any, str | None]:
    """The job's model (its own, else the active one, else the optimisation method)."""
    from models.modelfile import ModelFileError

    with rt.sessions() as session:
        model = (
            crud.get_model(session, model_id=job.model_id)
            if job.model_id
            else crud.get_active_model(session)
        )
    if model is None:
        return rt.stylizer(None, "optimisation"), None
    try:
        with rt.storage.local_path(model.sha256) as path:
            return rt.stylizer(path, model.sha256), model.id
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # metadata the loader did not expect
        raise ModelFileError(f"model {model.id}: {type(exc).__name__}: {exc}") from exc


def stylize_work(rt: Runtime, job: Job, progress: Progress) -> dict[str, Any]:
    from PIL import Image

    params = job.parameters
    assert job.content_sha256 and job.style_sha256
    content = Image.open(io.BytesIO(rt.storage.get(job.content_sha256))).convert("RGB")
    style = Image.open(io.BytesIO(rt.storage.get(job.style_sha256))).convert("RGB")
    stylizer, model_id = load_stylizer(rt, job)
    result = stylizer(
        content,
        [style],
        strength=params.get("strength", 1.0),
        preserve_color=params.get("preserve_color", False),
        max_side=params.get("max_side"),
        progress=progress,
    )
    data, content_type = encode(result, params.get("output_format", "png"))
    with rt.sessions() as session:
        row = crud.store_image(
            session,
            storage=rt.storage,
            data=data,
            width=result.width,
            height=result.height,
            content_type=content_type,
        )
        session.commit()
    return {
        "result_sha256": row.sha256,
        "result_info": {
            "method": stylizer.method,
            "untrained": bool(stylizer.untrained),
            "model_id": model_id,
        },
    }


def train_work(rt: Runtime, job: Job, progress: Progress) -> dict[str, Any]:
    """Train on the job's images in a scratch folder; register (and maybe activate) the model."""
    from models.train import TrainConfig, train

    params = job.parameters
    with tempfile.TemporaryDirectory(prefix="atelier-train-") as tmp:
        root = Path(tmp)
        for kind in ("content", "style"):
            (root / kind).mkdir()
            for i, key in enumerate(params[kind]):
                (root / kind / f"{i:04d}.png").write_bytes(rt.storage.get(key))
        config = TrainConfig(
            steps=params["steps"],
            image_size=params["image_size"],
            batch_size=params["batch_size"],
            encoder=rt.settings.encoder,
            device=rt.settings.device,
            checkpoint_every=params["steps"],
        )
        out = root / "model.safetensors"
        train(
            config,
            root / "content",
            root / "style",
            out,
            checkpoint=root / "model.ckpt",
            progress=lambda p: progress(p.step / p.total),
        )
        data = out.read_bytes()
    info = read_model_metadata(data)
    key = rt.storage.put(data)
    with rt.sessions() as session:
        model = crud.create_model(
            session, name=params.get("name", "model"), sha256=key, size_bytes=len(data), info=info
        )
        if params.get("activate"):
            crud.activate_model(session, model=model)
    return {"result_info": {"model_id": model.id, "activated": bool(params.get("activate"))}}


def run_stylize(rt: Runtime, job_id: str) -> JobStatus | None:
    return run_job(rt, job_id, stylize_work)


def run_train(rt: Runtime, job_id: str) -> JobStatus | None:
    return run_job(rt, job_id, train_work)


def _after(rt: Runtime, job_id: str, status: JobStatus | None) -> None:
    if status is None:
        return
    with rt.sessions() as session:
        job = crud.get_job(session, job_id=job_id)
    if job is not None and job.webhook_url and job.status in FINISHED:
        queue.send_webhook(celery_app, job_id)


@celery_app.task(name=STYLIZE_TASK)
def stylize(job_id: str) -> None:
    """Run a stylization job; a redelivered message for a job that already ran does nothing."""
    rt = runtime()
    _after(rt, job_id, run_stylize(rt, job_id))


@celery_app.task(name=TRAIN_TASK)
def train_model(job_id: str) -> None:
    """Run a training job (training queue); idempotent like `stylize`."""
    rt = runtime()
    _after(rt, job_id, run_train(rt, job_id))


@celery_app.task(name=WEBHOOK_TASK, bind=True, max_retries=None)
def deliver_webhook(self: Task, job_id: str) -> None:
    """POST the finished job to its webhook, signed; retried with exponential back-off."""
    import httpx

    rt = runtime()
    settings = rt.settings
    with rt.sessions() as session:
        job = crud.get_job(session, job_id=job_id)
        if job is None or not job.webhook_url or job.webhook_status == "delivered":
            return
        body = json.dumps(
            {"type": f"job.{job.status.value}", "data": job_public(job).model_dump(mode="json")},
            separators=(",", ":"),
        )
        url = job.webhook_url
    message_id = f"{job_id}.{job.status.value}"
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(settings, message_id, timestamp, body),
    }
    attempt = self.request.retries + 1
    try:
        response = httpx.post(
            url, content=body, headers=headers, timeout=settings.webhook_timeout_s
        )
        ok = 200 <= response.status_code < 300
        error = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        ok, error = False, str(exc)
    with rt.sessions() as session:
        job = crud.get_job(session, job_id=job_id)
        assert job is not None
        job.webhook_attempts = attempt
        if ok:
            job.webhook_status = "delivered"
        elif attempt >= settings.webhook_max_attempts:
            job.webhook_status = "failed"
        else:
            job.webhook_status = "retrying"
        session.commit()
    if not ok and attempt < settings.webhook_max_attempts:
        log.warning("webhook for job %s failed (%s); retry %d", job_id, error, attempt)
        raise self.retry(countdown=settings.webhook_backoff_s * 2 ** (attempt - 1))
