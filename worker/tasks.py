"""Celery tasks: thin and idempotent. They take a job id, and the jobs table says what to do."""

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from celery import Task

from app import crud, queue
from app.images import encode
from app.presenters import job_public
from app.queue import STYLIZE_TASK, TRAIN_TASK, WEBHOOK_TASK
from app.tables import FINISHED, ImageSet, Job, JobKind, JobStatus, ModelFile
from contracts.modelfile import ModelFileError
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


def make_progress(rt: Runtime, job_id: str, started: float, limit_s: float) -> Progress:
    """The callback handed to the model: records progress (and a training job's step, losses,
    preview... as `info`), checks cancel and time limit. Writes are throttled to one per
    ATELIER_CANCEL_CHECK_INTERVAL_S unless `force`."""
    interval = rt.settings.cancel_check_interval_s
    last = [0.0]

    def progress(
        fraction: float, info: dict[str, Any] | None = None, *, force: bool = False
    ) -> None:
        now = time.monotonic()
        if now - started > limit_s:
            raise JobTimedOut
        if now - last[0] < interval and fraction < 1.0 and not force:
            return
        last[0] = now
        with rt.sessions() as session:
            try:
                cancel = crud.heartbeat(
                    session, job_id=job_id, worker=rt.name, progress=0.99 * fraction, info=info
                )
            except LookupError as exc:
                raise JobLost from exc
        if cancel:
            raise JobCanceled

    return progress


Work = Callable[[Runtime, Job, Progress], dict[str, Any]]


def time_limit_s(rt: Runtime, job: Job) -> float:
    """ATELIER_TRAINING_TIME_LIMIT_S for training jobs, ATELIER_JOB_TIME_LIMIT_S for the rest."""
    if job.kind == JobKind.train:
        return rt.settings.training_time_limit_s
    return rt.settings.job_time_limit_s


def run_job(rt: Runtime, job_id: str, work: Work) -> JobStatus | None:
    """Claim a job, run `work` under a heartbeat, and record the outcome.

    `work` returns `finish_job` arguments for success (result image, result info); the
    outcome is written only while this worker still holds the job. Returns the final status,
    or None when nothing was run (the job was finished, canceled or taken).
    """
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
    limit = time_limit_s(rt, job)
    with Heartbeat(rt, job_id) as beat:
        try:
            outcome = work(rt, job, make_progress(rt, job_id, started, limit))
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
        if beat.lost:
            return None
        outcome.setdefault("result_info", {})["seconds"] = round(time.monotonic() - started, 3)
        return finish(JobStatus.succeeded, **outcome)


def load_stylizer(rt: Runtime, job: Job) -> tuple[Any, ModelFile | None]:
    """The job's model (its own, else the active one, else the optimisation method)."""
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
            return rt.stylizer(path, model.sha256), model
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # metadata the loader did not expect
        raise ModelFileError(f"model {model.id}: {type(exc).__name__}: {exc}") from exc


def job_styles(rt: Runtime, job: Job, stylizer: Any, model: ModelFile | None) -> list[Any]:
    """The styles to blend: the job's image, or its style set. The GAN takes statistics: a set's
    are stored once per model and set content, a single image's cached per process; the
    optimisation method takes the images."""
    from PIL import Image

    def image(key: str) -> Image.Image:
        return Image.open(io.BytesIO(rt.storage.get(key))).convert("RGB")

    if job.style_set_id is None:
        assert job.style_sha256
        style_key = job.style_sha256
        if model is None:  # the optimisation method needs the pixels
            return [image(style_key)]
        return [rt.style_stats(stylizer, model.sha256, style_key, lambda: image(style_key))]
    with rt.sessions() as session:
        image_set = crud.get_image_set(session, set_id=job.style_set_id, kind="style")
        if image_set is None:
            raise JobFailed("style_set_not_found", f"style set {job.style_set_id} was deleted")
        keys = [m.image_sha256 for m in crud.set_members(session, set_id=image_set.id)]
    if model is None:
        return [image(k) for k in keys]
    return [style_set_stats(rt, stylizer, model.sha256, image_set, keys, image)]


def style_set_stats(
    rt: Runtime,
    stylizer: Any,
    model_key: str,
    image_set: ImageSet,
    keys: list[str],
    image: Callable[[str], Any],
) -> Any:
    """The set's blended statistics for this model: from storage, or computed and stored."""
    from safetensors.torch import load, save

    from models.networks import StyleStats

    with rt.sessions() as session:
        row = crud.get_set_stats(
            session, set_id=image_set.id, model_key=model_key, set_digest=image_set.digest
        )
    if row is not None:
        return StyleStats.from_tensors(load(rt.storage.get(row.stats_sha256)))
    stats = StyleStats.blend([stylizer.style_stats(image(k)) for k in keys], [1.0] * len(keys))
    data = save({k: v.detach().cpu().contiguous() for k, v in stats.to_tensors().items()})
    stats_key = rt.storage.put(data)
    with rt.sessions() as session:
        crud.save_set_stats(
            session,
            set_id=image_set.id,
            model_key=model_key,
            set_digest=image_set.digest,
            stats_sha256=stats_key,
        )
    return stats


def stylize_work(rt: Runtime, job: Job, progress: Progress) -> dict[str, Any]:
    import torch
    from PIL import Image

    params = job.parameters
    assert job.content_sha256
    content = Image.open(io.BytesIO(rt.storage.get(job.content_sha256))).convert("RGB")
    stylizer, model = load_stylizer(rt, job)
    styles = job_styles(rt, job, stylizer, model)
    seed = int(params.get("seed", 0))
    torch.manual_seed(seed)  # any random draw in the method repeats with the recorded seed
    result = stylizer(
        content,
        styles,
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
            # The model version that made the result; with `seed` it reproduces it.
            "model_id": model.id if model is not None else None,
            "model_sha256": model.sha256 if model is not None else None,
            "model_name": model.name if model is not None else None,
            "seed": seed,
        },
    }


def run_stylize(rt: Runtime, job_id: str) -> JobStatus | None:
    return run_job(rt, job_id, stylize_work)


def run_train(rt: Runtime, job_id: str) -> JobStatus | None:
    from worker.training import train_work

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
