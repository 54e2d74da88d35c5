"""The Celery app the worker runs: `celery -A worker.celery_app worker` (or `atelier worker`)."""

from celery import Celery

from app.config import get_settings
from app.queue import INFERENCE_QUEUE, STYLIZE_TASK, TRAINING_QUEUE, WEBHOOK_TASK, broker_options


def make_celery() -> Celery:
    settings = get_settings()
    celery = Celery("atelier", include=["worker.tasks"])
    celery.conf.update(broker_options(settings))
    celery.conf.update(
        # A task is acknowledged only after it ran, and a worker that dies mid-task gives the
        # message back (where the broker can); the task itself is idempotent, so a second
        # delivery is harmless.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Hard limit as a last resort for prefork pools; solo GPU workers enforce
        # ATELIER_JOB_TIME_LIMIT_S themselves between steps (signals cannot interrupt CUDA).
        task_time_limit=int(settings.job_time_limit_s + 120),
        task_routes={
            STYLIZE_TASK: {"queue": INFERENCE_QUEUE},
            WEBHOOK_TASK: {"queue": INFERENCE_QUEUE},
        },
        task_queues=None,
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        # kombu's SQL transport has no fanout exchange, so no remote control / events there.
        worker_enable_remote_control=not settings.embedded_broker,
        worker_send_task_events=False,
    )
    celery.conf.task_default_queue = INFERENCE_QUEUE
    celery.conf.broker_transport_options = {
        **celery.conf.broker_transport_options,
    }
    assert TRAINING_QUEUE  # declared by `atelier worker -Q inference,training`
    return celery


celery_app = make_celery()
