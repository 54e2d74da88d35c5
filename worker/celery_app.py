"""The Celery app the worker runs: `celery -A worker.celery_app worker` (or `atelier worker`)."""

import sys
from typing import Any

from celery import Celery
from celery.signals import worker_init

from app.config import get_settings
from app.queue import (
    INFERENCE_QUEUE,
    STYLIZE_TASK,
    TRAIN_TASK,
    TRAINING_QUEUE,
    WEBHOOK_TASK,
    broker_options,
)


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
        task_annotations={TRAIN_TASK: {"time_limit": int(settings.training_time_limit_s + 120)}},
        task_routes={
            STYLIZE_TASK: {"queue": INFERENCE_QUEUE},
            WEBHOOK_TASK: {"queue": INFERENCE_QUEUE},
            TRAIN_TASK: {"queue": TRAINING_QUEUE},
        },
        task_queues=None,
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        # kombu's SQL transport has no fanout exchange, so no remote control / events there.
        worker_enable_remote_control=not settings.embedded_broker,
        worker_send_task_events=False,
    )
    return celery


celery_app = make_celery()


@worker_init.connect
def _refuse_unmigrated_database(**_: Any) -> None:
    """Fail at start (naming `atelier db upgrade`), not on the first task, if `celery -A` is
    used directly instead of `atelier worker`."""
    from app.db import NotMigratedError
    from worker.runtime import runtime

    try:
        runtime()
    except NotMigratedError as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit gets through.
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from exc
