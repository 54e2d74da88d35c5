"""How a call reaches the service, written once for `Client` and `AsyncClient`.

Each API operation is a generator that yields what it needs done (a `Request` to send, a
`Sleep` between polls) and receives the answer: it does no I/O itself. `with_retries` adds the
retry rule to any operation, and `run_sync` / `run_async` are the only two places that touch
the network or the clock (through `streaming` for an answer written to a file). So the polling
loop, the retry on 429/503 honouring `Retry-After` and the error mapping exist once, not once
per client (httpx's own sans-I/O split, one level up).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar, cast

import httpx

from atelier_client import streaming
from atelier_client.errors import APIConnectionError, error_from_response, retry_after_seconds
from atelier_client.options import FilePart
from atelier_client.routes import Route

T = TypeVar("T")

USER_AGENT = "atelier-client/0.1.0"


@dataclass(frozen=True)
class Endpoint:
    """Where the service is and the key to show it."""

    base_url: str
    api_key: str

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None) -> Endpoint:
        """The arguments, else ATELIER_URL (or ATELIER_API_URL, the `atelier` CLI's name for
        it) and ATELIER_API_KEY."""
        url = base_url or os.environ.get("ATELIER_URL") or os.environ.get("ATELIER_API_URL")
        key = api_key or os.environ.get("ATELIER_API_KEY")
        if not url:
            raise ValueError("no base URL: pass base_url or set ATELIER_URL")
        if not key:
            raise ValueError("no API key: pass api_key or set ATELIER_API_KEY")
        return cls(base_url=url.rstrip("/"), api_key=key)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT}


FileParts = list[tuple[str, FilePart]]  # (field, (filename, content, content type))


@dataclass(frozen=True)
class Request:
    """One HTTP request of a route, ready to be sent (again, when retried: it is rebuilt
    from these values each time, multipart bodies included; a file part's file is read from
    its start each time, see `options.streamed_part`)."""

    route: Route
    url: str
    params: dict[str, str | int] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    files: FileParts = field(default_factory=list)
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None  # None: the client's
    # A 2xx answer's body is written to this file, never held whole (see `streaming`); the
    # operation then gets the response closed, without its body.
    stream_to: Path | None = None

    @property
    def replayable(self) -> bool:
        """Whether sending it twice does what sending it once does: reads and deletes, and
        submissions carrying an Idempotency-Key (the service answers the first job again)."""
        return self.route.method in ("GET", "HEAD", "DELETE") or any(
            name.lower() == "idempotency-key" for name in self.headers
        )

    def build(self, http: httpx.Client | httpx.AsyncClient, endpoint: Endpoint) -> httpx.Request:
        return http.build_request(
            self.route.method,
            endpoint.base_url + self.url,
            params=self.params or None,
            data=self.data or None,
            files=self.files or None,
            json=self.json,
            headers={**endpoint.headers(), **self.headers},
            timeout=self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )


def request(
    route: Route,
    *,
    ids: Mapping[str, str] | None = None,
    query: Mapping[str, str | int | None] | None = None,
    form: Mapping[str, str] | None = None,
    files: Sequence[tuple[str, FilePart]] | None = None,
    json: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stream_to: Path | None = None,
) -> Request:
    """A request of `route`, refusing a field the route does not declare (a misspelt option
    fails here, with its name, rather than as the service's 422)."""
    sent_form = set(form or {}) | {name for name, _ in files or []}
    for kind, sent, declared in (
        ("query parameter", set(query or {}), route.query),
        ("field", sent_form, route.form),
        ("field", set(json or {}), route.json),
    ):
        unknown = sorted(sent - declared)
        if unknown:
            raise TypeError(f"{route.method} {route.path} takes no {kind} {', '.join(unknown)}")
    return Request(
        route=route,
        url=route.url(**(ids or {})),
        params={k: v for k, v in (query or {}).items() if v is not None},
        data=dict(form or {}),
        files=list(files or []),
        json=dict(json) if json is not None else None,
        headers=dict(headers or {}),
        timeout=timeout,
        stream_to=stream_to,
    )


class Connection:
    """What `Client` and `AsyncClient` share: where the service is, the retry rule, the poll
    interval. Each adds its own httpx client and its resources."""

    def __init__(
        self, base_url: str | None, api_key: str | None, max_retries: int, poll_interval: float
    ) -> None:
        self.endpoint = Endpoint.resolve(base_url, api_key)
        self.retry_policy = RetryPolicy(max_retries=max_retries)
        self.poll_interval = poll_interval


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step: TypeAlias = Request | Sleep
Operation: TypeAlias = Generator[Step, Any, T]


def call(req: Request) -> Operation[httpx.Response]:
    """Inside an operation: `response = yield from call(req)` (a 2xx or 3xx answer; errors
    are raised as `AtelierError`s by `with_retries`)."""
    response = yield req
    return cast(httpx.Response, response)


def download_to(
    route: Route, ids: Mapping[str, str], path: str | os.PathLike[str]
) -> Operation[Path]:
    """Inside an operation: the body of a GET of `route` streamed into `path` (written whole
    or not at all: see `streaming`)."""
    target = Path(path)
    response = yield from call(request(route, ids=ids, stream_to=target))
    if not response.is_success:  # a redirect, which this client never asks for: nothing written
        raise error_from_response(response)
    return target


def pause(seconds: float) -> Operation[None]:
    yield Sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed attempt is tried again, and after how long."""

    max_retries: int = 2
    initial_backoff: float = 0.5  # seconds, doubled each retry, with jitter
    max_backoff: float = 8.0
    # A longer Retry-After (a daily quota used up) is the caller's to handle: it is raised.
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        delay = min(self.max_backoff, self.initial_backoff * 2.0**attempt)
        return delay * (1 - 0.25 * random.random())  # spread a burst of clients apart

    def delay(
        self, req: Request, outcome: httpx.Response | Exception, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying `req` after `outcome` (its attempt number `attempt`,
        from 0), or None: not retried. A connection that never opened is always retried;
        one that broke mid-way only when the request is replayable. 429 and 503 store
        nothing on the service, so they are always retried, after Retry-After when given."""
        if attempt >= self.max_retries:
            return None
        if isinstance(outcome, Exception):
            never_sent = isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout)
            return self.backoff(attempt) if never_sent or req.replayable else None
        if outcome.status_code not in (429, 503):
            return None
        after = retry_after_seconds(outcome.headers)
        if after is None:
            return self.backoff(attempt)
        return after if after <= self.max_retry_after else None


def _send(req: Request, policy: RetryPolicy) -> Generator[Step, Any, httpx.Response]:
    attempt = 0
    while True:
        outcome: httpx.Response | Exception = yield req
        delay = policy.delay(req, outcome, attempt)
        if delay is None:
            break
        attempt += 1
        yield Sleep(delay)
    if isinstance(outcome, Exception):
        raise APIConnectionError(
            f"{req.route.method} {req.url}: {outcome!r}", code="connection_error"
        ) from outcome
    if outcome.status_code >= 400:
        raise error_from_response(outcome)
    return outcome


def with_retries(op: Operation[T], policy: RetryPolicy) -> Operation[T]:
    """`op` with each of its requests retried by `policy`; the steps it yields are single
    attempts (answered with the response, or the transport's exception) and sleeps. An
    error raised here ends `op` at once (closed: a file it opened is closed then, not when it
    is garbage-collected)."""
    sent: Any = None
    try:
        while True:
            try:
                step = op.send(sent)
            except StopIteration as stop:
                return cast(T, stop.value)
            if isinstance(step, Sleep):
                sent = yield step
            else:
                sent = yield from _send(step, policy)
    finally:
        op.close()


def run_sync(op: Operation[T], http: httpx.Client, endpoint: Endpoint, policy: RetryPolicy) -> T:
    """Run an operation to its end on a blocking httpx client."""
    steps = with_retries(op, policy)
    outcome: Any = None
    while True:
        try:
            step = steps.send(outcome)
        except StopIteration as stop:
            return cast(T, stop.value)
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            outcome = None
            continue
        try:
            outcome = streaming.send(http, step.build(http, endpoint), step.stream_to)
        except httpx.TransportError as exc:
            outcome = exc


async def run_async(
    op: Operation[T], http: httpx.AsyncClient, endpoint: Endpoint, policy: RetryPolicy
) -> T:
    """Run an operation to its end on an asyncio httpx client."""
    steps = with_retries(op, policy)
    outcome: Any = None
    while True:
        try:
            step = steps.send(outcome)
        except StopIteration as stop:
            return cast(T, stop.value)
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            outcome = None
            continue
        try:
            outcome = await streaming.send_async(http, step.build(http, endpoint), step.stream_to)
        except httpx.TransportError as exc:
            outcome = exc
