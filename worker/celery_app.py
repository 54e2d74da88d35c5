"""The Celery app the worker runs: `celery -A worker.celery_app worker` (or `atelier worker`)."""

import functools
import logging
import sys
from typing import Any

from celery import Celery, bootsteps
from celery.signals import celeryd_after_setup, worker_init

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


class WakeForQueuedCallbacks(bootsteps.StartStopStep):
    """The worker's event loop polls at once while callbacks wait in its ready queue.

    kombu's Hub runs the queued callbacks, then polls its sockets for up to the next timer (10 s
    at most). A callback queued by one of those callbacks on the loop's own thread wakes
    nothing, so it waits out that poll. On RabbitMQ that is a job's acknowledgement: the reader
    callback delivers the next message, the solo pool runs the task right there, its ack (acks
    late) is queued, and with prefetch 1 RabbitMQ sends nothing more until it gets the ack, so
    the worker sat idle up to 10 s with jobs waiting (measured: bursts every 10 s, p50 9.6 s
    against 0.8 s on Redis; the ack queued after the loop's last look at the queue, then a 10 s
    poll with no events). This step checks the queue just before each poll and wakes the loop
    (its own waker, as a call from another thread would) when something waits.
    """

    requires = {"celery.worker.components:Hub"}

    def start(self, worker: Any) -> None:
        hub = getattr(worker, "hub", None)
        if hub is not None:
            hub.on_tick.add(functools.partial(wake_if_ready, hub))


def wake_if_ready(hub: Any) -> None:
    """Make the hub's next poll return at once if callbacks are waiting (kombu internals:
    `_ready` and `_waker`, present since kombu 5.4; a hub without them is left alone)."""
    waker = getattr(hub, "_waker", None)
    if getattr(hub, "_ready", None) and waker is not None:
        waker.wake()


log = logging.getLogger("atelier.worker")
celery_app = make_celery()
celery_app.steps["worker"].add(WakeForQueuedCallbacks)


# What the warm-up did: worker_init comes before Celery sets up its logging, where an INFO line
# would be lost, so it is logged once logging is up (celeryd_after_setup, before the worker
# takes its first task).
_warm_up_reports: list[str] = []


@worker_init.connect
def _refuse_unmigrated_database(**_: Any) -> None:
    """Fail at start (naming `atelier db upgrade`), not on the first task, if `celery -A` is
    used directly instead of `atelier worker`; likewise for a backend that is not installed.
    Then load and warm the active model, so the first job runs as fast as the tenth."""
    from app.db import NotMigratedError
    from contracts.backends import missing_backend
    from worker.runtime import runtime

    try:
        rt = runtime()
    except NotMigratedError as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit gets through.
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from exc
    problem = missing_backend(rt.settings.backend)
    if problem is not None:
        sys.stderr.write(f"error: {problem} (ATELIER_BACKEND)\n")
        raise SystemExit(2)
    from worker.stylization import warm_active_model

    try:
        _warm_up_reports.append(warm_active_model(rt))
    except Exception:  # a broken model fails its jobs with a code; the worker still serves
        log.exception("warm-up failed; the first job loads the model itself")


@celeryd_after_setup.connect
def _log_the_warm_up(**_: Any) -> None:
    while _warm_up_reports:
        log.info("warm-up: %s", _warm_up_reports.pop(0))
