"""The API's side of the task queue: a Celery client that sends tasks by name.

The API never imports `worker` (which pulls in torch); both sides share only the task names and
queue names below, and `worker.celery_app` applies the same broker settings.
"""

import logging
import time
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session

from app import broker, crud
from app.config import Settings

broker.register()

STYLIZE_TASK = "atelier.stylize"
WEBHOOK_TASK = "atelier.deliver_webhook"
CAMPAIGN_WEBHOOK_TASK = "atelier.deliver_campaign_webhook"
TRAIN_TASK = "atelier.train"
VIDEO_TASK = "atelier.stylize_video"
INFERENCE_QUEUE = "inference"
TRAINING_QUEUE = "training"


def broker_options(settings: Settings) -> dict[str, Any]:
    """Celery settings shared by the API's client and the worker."""
    options: dict[str, Any] = {
        "broker_url": settings.celery_broker_url,
        "task_default_queue": INFERENCE_QUEUE,
        "task_ignore_result": True,  # outcomes live in the jobs table, never in a result backend
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
    }
    transport: dict[str, Any] = {}
    if settings.amqp_broker:
        # RabbitMQ: durable queues (Celery's default for the queues it creates) and persistent
        # messages survive a broker restart; publisher confirms make `send_task` return only
        # once the broker has the message, so a job is marked dispatched only then. With
        # acks_late and prefetch 1 (worker.celery_app), a worker that dies hands its message
        # straight back. Classic rather than quorum queues: the webhook retries' countdowns
        # need no delayed-delivery exchanges, and one node is what this deployment runs.
        transport["confirm_publish"] = True
    elif settings.embedded_broker:
        # kombu's SQL transport polls; the default 1 s poll would add up to a second per job.
        transport["polling_interval"] = settings.broker_polling_interval_s
    else:
        # Redis redelivers an unacked message after the visibility timeout; set it past the
        # longest job so a slow job is not run twice (the reaper covers dead workers sooner).
        transport["visibility_timeout"] = int(settings.job_time_limit_s * 2)
        if settings.broker_key_prefix:
            transport["global_keyprefix"] = settings.broker_key_prefix
    options["broker_transport_options"] = transport
    return options


def make_client(settings: Settings) -> Celery:
    client = Celery("atelier-api", set_as_current=False)
    client.conf.update(broker_options(settings))
    return client


def send_stylize(client: Celery, job_id: str) -> None:
    # The sending time gives the worker the job's dequeue delay (result_info.timings).
    client.send_task(
        STYLIZE_TASK, args=[job_id], kwargs={"enqueued_at": time.time()}, queue=INFERENCE_QUEUE
    )


def send_train(client: Celery, job_id: str) -> None:
    client.send_task(TRAIN_TASK, args=[job_id], queue=TRAINING_QUEUE)


def send_video(client: Celery, job_id: str) -> None:
    client.send_task(VIDEO_TASK, args=[job_id], queue=INFERENCE_QUEUE)


def send_job(client: Celery, job_id: str, kind: str) -> None:
    """Send a job's task to the queue for its kind."""
    send = {"train": send_train, "video": send_video}.get(kind, send_stylize)
    send(client, job_id)


def dispatch(
    client: Celery, session: Session, *, job_id: str, kind: str, log: logging.Logger
) -> bool:
    """Send a job's task, then mark the job dispatched; returns whether it was sent.

    A broker that does not answer is logged and the job stays queued, never dispatched: the
    reaper sends it later (and re-sends one whose message was lost after all).
    """
    try:
        send_job(client, job_id, kind)
        crud.mark_dispatched(session, job_id=job_id)
    except Exception:
        log.exception("could not enqueue job %s", job_id)
        return False
    return True


def send_webhook(client: Celery, job_id: str) -> None:
    client.send_task(WEBHOOK_TASK, args=[job_id], queue=INFERENCE_QUEUE)


def send_campaign_webhook(client: Celery, campaign_id: str) -> None:
    """The one webhook of a campaign that ended (its last child finished, or it was canceled)."""
    client.send_task(CAMPAIGN_WEBHOOK_TASK, args=[campaign_id], queue=INFERENCE_QUEUE)


def queue_depths(client: Celery) -> dict[str, int]:
    """Messages waiting in each queue, as the broker reports them."""
    depths: dict[str, int] = {}
    with client.connection_for_read() as conn:
        channel = conn.default_channel
        for queue in (INFERENCE_QUEUE, TRAINING_QUEUE):
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except Exception:  # a queue nobody declared yet holds nothing
                depths[queue] = 0
    return depths


def ping(client: Celery, timeout: float = 2.0) -> None:
    with client.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        conn.default_channel  # noqa: B018  (opens the channel: proves the broker answers)
