"""Every failure the client reports is an `AtelierError` with the API's stable `code`.

The service answers every error as `{"error": {"code": "...", "message": "..."}}`; the HTTP
status picks the subclass (its kind, in the service's own words: `app/errors.py` and
`app/api/errors.py`), so a caller catches `NotFoundError` or compares `.code` and never parses a
message. Failures that are not an HTTP answer (no connection, a job that failed, a wait that ran
out, a forged webhook) are `AtelierError`s too, with `.status` None.
"""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from atelier_client.schemas import JobSnapshot


class AtelierError(Exception):
    """A refusal or failure: `.code` is stable and machine-readable, `.status` the HTTP status
    (None when no HTTP answer caused it), `.message` the explanation for a person."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.response = response

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.code}: {self.message}{where}"


class BadRequestError(AtelierError):
    """400: the request could not be read (a malformed multipart body)."""


class AuthenticationError(AtelierError):
    """401 `unauthorized`: no API key, or an unknown or revoked one."""


class PermissionDeniedError(AtelierError):
    """403: an admin route with a user key (`forbidden`), a built-in style (`builtin_style`)."""


class NotFoundError(AtelierError):
    """404: the job, style, campaign or model does not exist or is not the key's."""


class ConflictError(AtelierError):
    """409: not possible in the current state (`job_finished`, `no_active_model`...)."""


class GoneError(AtelierError):
    """410 `result_expired`: the job's files were deleted (retention)."""


class TooLargeError(AtelierError):
    """413: a size, pixel, length or count limit (`file_too_large`, `too_many_pixels`,
    `video_too_long`, `video_too_large`...)."""


class UnsupportedFormatError(AtelierError):
    """415: not an image or a clip the service reads (`unsupported_format`, `not_a_video`)."""


class InvalidInputError(AtelierError):
    """422: the input breaks a rule (`corrupt_image`, `invalid_parameter`, `style_required`,
    `no_video_stream`, `corrupt_video`...)."""


class RetryLaterError(AtelierError):
    """429 or 503 after the client's retries: `.retry_after` says how long the service asked
    to wait (seconds; None when it did not say)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimitError(RetryLaterError):
    """429: the key is over a limit (`rate_limited`, `too_many_active_jobs`, `quota_exceeded`)."""


class ServiceUnavailableError(RetryLaterError):
    """503 `service_busy`: the service is at capacity."""


class ServerError(AtelierError):
    """Any other 5xx: a fault of the service's own."""


class APIConnectionError(AtelierError):
    """No answer: the connection failed or timed out (after the client's retries)."""


class JobFailedError(AtelierError):
    """A job the caller waited for to get a result ended without one (failed, canceled,
    expired); `.job` is the job as last read, `.code` its error code."""

    def __init__(self, job: JobSnapshot) -> None:
        error = job.error
        code = error.code if error is not None else f"job_{job.status}"
        message = error.message if error is not None else f"job {job.id} is {job.status}"
        super().__init__(message, code=code)
        self.job = job


class WaitTimeoutError(AtelierError):
    """A wait for a job or campaign ran past its timeout; the work goes on on the service."""


class WebhookVerificationError(AtelierError):
    """A webhook whose signature, timestamp or headers do not hold: do not trust its body."""


_BY_STATUS: dict[int, type[AtelierError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: TooLargeError,
    415: UnsupportedFormatError,
    422: InvalidInputError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`Retry-After` in seconds: a number of seconds, or an HTTP date (RFC 9110)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(response: httpx.Response) -> AtelierError:
    """The error an HTTP error answer stands for, with the API's code and message (a body
    not in the API's shape, from a proxy say, still gives a code: `http_<status>`)."""
    status = response.status_code
    code, message = f"http_{status}", response.text[:500] or response.reason_phrase
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        pass
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else AtelierError)
    if issubclass(kind, RetryLaterError):
        return kind(
            message,
            code=code,
            status=status,
            response=response,
            retry_after=retry_after_seconds(response.headers),
        )
    return kind(message, code=code, status=status, response=response)
