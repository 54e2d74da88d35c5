"""`POST /v1/stylizations` as one operation: submit, wait, and hand back a job with a result
(`submit_job`, the submit-and-wait, is also a video's: `videos`).

Every submission carries an Idempotency-Key (generated unless given), so a retry after a
dropped connection returns the job the first attempt made instead of a second job. Waiting
asks the service to hold the answer until the job finishes (`Prefer: wait`, at most 60 s, no
polling at all for a fast job), then polls; with a progress callback it polls from the start,
since the callback wants the steps in between.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from atelier_client import routes
from atelier_client.errors import JobFailedError
from atelier_client.jobs import Progress, wait_job
from atelier_client.options import FileInput, file_part, form_fields
from atelier_client.routes import Route
from atelier_client.schemas import JobSnapshot
from atelier_client.transport import FileParts, Operation, call, request

J = TypeVar("J", bound=JobSnapshot)

PREFER_WAIT_MAX_S = 60  # the service holds an answer this long at most
ANSWER_SLACK_S = 30.0  # beyond the held time: upload, validation, the answer itself


def new_idempotency_key() -> str:
    return f"atelier-client-{uuid.uuid4().hex}"


def image_parts(**images: FileInput | None) -> FileParts:
    """The multipart file parts of the images given (None: left out)."""
    return [(name, file_part(value, name)) for name, value in images.items() if value is not None]


def mask_parts(masks: Sequence[FileInput]) -> FileParts:
    """The `masks` file parts, in order: a region's `mask` is its index here."""
    return [("masks", file_part(m, f"mask-{i}")) for i, m in enumerate(masks)]


def stylize(
    *,
    content: FileInput,
    style: FileInput | None,
    mask: FileInput | None,
    masks: Sequence[FileInput],
    fields: Mapping[str, object],
    idempotency_key: str | None,
    wait: bool,
    timeout: float | None,
    poll_interval: float,
    progress: Progress[J] | None,
    as_job: Callable[[Any], J],
) -> Operation[J]:
    """Submit a stylization; with `wait`, return it succeeded (JobFailedError otherwise)."""
    return (
        yield from submit_job(
            routes.STYLIZE,
            form=form_fields(fields),
            files=image_parts(content=content, style=style, mask=mask) + mask_parts(masks),
            idempotency_key=idempotency_key,
            wait=wait,
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            as_job=as_job,
        )
    )


def submit_job(
    route: Route,
    *,
    form: Mapping[str, str],
    files: FileParts,
    idempotency_key: str | None,
    wait: bool,
    timeout: float | None,
    poll_interval: float,
    progress: Progress[J] | None,
    as_job: Callable[[Any], J],
) -> Operation[J]:
    """Submit a job to `route` (a stylization, a video); with `wait`, return it succeeded
    (JobFailedError otherwise)."""
    started = time.monotonic()
    headers = {"Idempotency-Key": idempotency_key or new_idempotency_key()}
    held: float | None = None
    if wait and progress is None:
        held = float(min(PREFER_WAIT_MAX_S, timeout if timeout is not None else PREFER_WAIT_MAX_S))
        headers["Prefer"] = f"wait={held:g}"
    response = yield from call(
        request(
            route,
            form=form,
            files=files,
            headers=headers,
            timeout=held + ANSWER_SLACK_S if held is not None else None,
        )
    )
    job = as_job(response.json())
    if not wait:
        return job
    if job.finished:
        if progress is not None:
            progress(job)
    else:
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        job = yield from wait_job(job.id, as_job, left, poll_interval, progress)
    if job.status != "succeeded":
        raise JobFailedError(job)
    return job
