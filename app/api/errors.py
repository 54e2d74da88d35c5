"""One error shape for every failure: `{"error": {"code", "message"}}` with a stable `code`.

Routes raise APIError with an HTTP status; the shared helpers raise the domain errors of
`app.errors`, translated here into their status (the worker sees only those, never APIError).
"""

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.db import is_busy
from app.errors import DomainError, InvalidInput, NotFound, TooLarge, UnsupportedFormat
from app.limits import LimitExceeded


class APIError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    TooLarge: 413,
    UnsupportedFormat: 415,
    LimitExceeded: 429,
}


def http_error(exc: DomainError) -> APIError:
    """The HTTP answer to a domain error: its code and message, the status of its kind."""
    status = next(s for kind, s in DOMAIN_STATUS.items() if isinstance(exc, kind))
    headers = None
    if isinstance(exc, LimitExceeded):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return APIError(status, exc.code, exc.message, headers=headers)


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def allowed_methods(request: Request) -> str:
    """Every method the schema documents for the request's path. Starlette answers 405 with the
    methods of the first route that matched the path alone, which misses a path's other routes
    (GET and POST /v1/styles are two)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return await _api_error(request, http_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        message = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details)
        return JSONResponse(
            error_body("invalid_parameter", message, details=details), status_code=422
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, exc: Exception) -> JSONResponse:
        # At capacity (no connection came free, or SQLite's write lock stayed taken): a retry
        # later succeeds, so say when; any other database failure stays a 500.
        if not is_busy(exc):
            raise exc
        retry_after = request.app.state.settings.busy_retry_after_s
        return JSONResponse(
            error_body("service_busy", "the service is at capacity: retry after a moment"),
            status_code=503,
            headers={"Retry-After": str(retry_after)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )
