"""Waiting for a job or a campaign: read it until it finishes, telling a progress callback
each change, and give up past a timeout (the work goes on on the service)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from atelier_client.errors import WaitTimeoutError
from atelier_client.transport import Operation, pause

DEFAULT_WAIT_S = 600.0


class Finishing(Protocol):
    """What a wait reads: a job's or a campaign's status, percent and whether it finished."""

    @property
    def status(self) -> str: ...

    @property
    def percent(self) -> int: ...

    @property
    def finished(self) -> bool: ...


F = TypeVar("F", bound=Finishing)


def wait_until_finished(
    read: Callable[[], Operation[F]],
    what: str,
    timeout: float | None,
    poll_interval: float,
    progress: Callable[[F], None] | None,
) -> Operation[F]:
    """Read (`read()`) until finished; `progress` sees the value each time its status or
    percent changes (the last call sees it finished). Past `timeout` s: WaitTimeoutError."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: tuple[str, int, bool] | None = None
    while True:
        value = yield from read()
        # `finished` too: a campaign reads "succeeded" at 100% a moment before its finished_at
        # is set, and the last call must still see the finished value.
        if progress is not None and (value.status, value.percent, value.finished) != seen:
            seen = (value.status, value.percent, value.finished)
            progress(value)
        if value.finished:
            return value
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeoutError(
                f"{what} is still {value.status} ({value.percent}%) after {timeout:g} s",
                code="wait_timeout",
            )
        yield from pause(poll_interval)
