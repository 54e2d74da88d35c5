"""The Celery entry points, thin like web views: each takes a job id, and the jobs table says
what to do (`worker.jobs` runs a job, `worker.stylization` and `worker.training` do the work,
`worker.webhooks` delivers the outcome). A redelivered message for a job that already ran does
nothing."""

from typing import Any

from celery import Task
from celery.signals import worker_shutdown

from app import crud, queue
from app.queue import CAMPAIGN_WEBHOOK_TASK, STYLIZE_TASK, TRAIN_TASK, VIDEO_TASK, WEBHOOK_TASK
from app.tables import FINISHED, JobStatus
from worker import webhooks
from worker.celery_app import celery_app
from worker.jobs import Finisher
from worker.runtime import Runtime, runtime
from worker.stylization import run_stylize
from worker.training import run_train
from worker.video import run_video


def _notify(rt: Runtime, job_id: str, status: JobStatus | None) -> None:
    """Queue the webhook of a job this worker finished, if it has one."""
    if status is None:
        return
    with rt.sessions() as session:
        job = crud.get_job(session, job_id=job_id)
    if job is not None and job.webhook_url and job.status in FINISHED:
        queue.send_webhook(celery_app, job_id)
    if job is not None and job.campaign_id and job.status in FINISHED:
        with rt.sessions() as session:  # the last child to finish ends its campaign, once
            campaign = crud.finish_campaign_if_done(session, campaign_id=job.campaign_id)
        if campaign is not None and campaign.webhook_url:
            queue.send_campaign_webhook(celery_app, campaign.id)


# A job's last stage (encode, store, final write) runs here while the next job's model runs.
FINISHER = Finisher()


@worker_shutdown.connect
def _finish_the_last_job(**_: Any) -> None:
    FINISHER.wait()


@celery_app.task(name=STYLIZE_TASK)
def stylize(job_id: str, enqueued_at: float | None = None) -> None:
    """Run a stylization job (inference queue); `enqueued_at`: when the API sent it."""
    rt = runtime()
    run_stylize(
        rt,
        job_id,
        enqueued_at,
        finisher=FINISHER,
        on_done=lambda status: _notify(rt, job_id, status),
    )


@celery_app.task(name=VIDEO_TASK)
def stylize_video(job_id: str) -> None:
    """Run a video job (inference queue), resuming at its first unfinished segment."""
    rt = runtime()
    FINISHER.wait()  # the previous still's last stage: one job's work at a time
    _notify(rt, job_id, run_video(rt, job_id))


@celery_app.task(name=TRAIN_TASK)
def train_model(job_id: str) -> None:
    """Run a training job (training queue)."""
    rt = runtime()
    _notify(rt, job_id, run_train(rt, job_id))


@celery_app.task(name=CAMPAIGN_WEBHOOK_TASK, bind=True, max_retries=None)
def deliver_campaign_webhook(self: Task, campaign_id: str) -> None:
    """POST the ended campaign to its webhook, signed; retried with exponential back-off."""
    retry_in = webhooks.deliver_campaign(runtime(), campaign_id, attempt=self.request.retries + 1)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@celery_app.task(name=WEBHOOK_TASK, bind=True, max_retries=None)
def deliver_webhook(self: Task, job_id: str) -> None:
    """POST the finished job to its webhook, signed; retried with exponential back-off."""
    retry_in = webhooks.deliver(runtime(), job_id, attempt=self.request.retries + 1)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)
