"""The worker's event loop (kombu's Hub, as Celery runs it) runs a callback that another callback
queued on the loop's own thread at once, not after its next poll times out (up to 10 s in a
worker). On RabbitMQ that callback is a job's acknowledgement, and with prefetch 1 the broker
sends the next job only once it has it (worker.celery_app.WakeForQueuedCallbacks)."""

import socket
from typing import Any

from kombu.asynchronous import Hub

from worker.celery_app import wake_if_ready


def _first_poll(with_wake: bool) -> list[Any]:
    """The events of the loop's first poll after a callback queued another one; whether the
    second ran by the end of the next turn is checked too."""
    hub = Hub()
    ran: list[bool] = []
    a, b = socket.socketpair()
    try:
        hub.add_reader(a, lambda: None)  # a socket to poll, silent as a broker waiting for an ack
        hub.call_later(60, lambda: None)  # a timer far off: the poll may wait its longest
        if with_wake:
            hub.on_tick.add(lambda: wake_if_ready(hub))
        polls: list[Any] = []
        real_poll = hub.poller.poll

        def poll(timeout: float) -> Any:
            events = real_poll(timeout)
            polls.append(events or [])
            return events

        hub.poller.poll = poll  # type: ignore[method-assign]
        hub.call_soon(lambda: hub.call_soon(lambda: ran.append(True)))  # the reader's ack
        loop = hub.create_loop()
        next(loop)  # runs the first callback, which queues the second; then it polls
        next(loop)  # runs the second
        assert ran == [True]
        return polls[0]
    finally:
        hub.close()
        a.close()
        b.close()


def test_a_callback_queued_by_a_callback_ends_the_next_poll_at_once() -> None:
    assert _first_poll(with_wake=True) != []  # woken by the hub's own waker


def test_without_the_wake_the_poll_runs_out_with_nothing_to_read() -> None:
    """The behaviour the step exists for, kept as evidence: kombu alone waits out the poll."""
    assert _first_poll(with_wake=False) == []
