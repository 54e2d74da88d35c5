"""The OpenAPI schema lists every error status a route can answer, not only its success.

REST clients generate code from the schema, so an undocumented 404 or 415 is a bug. The errors
that follow from a route's shape are added here once, for all routes, instead of by hand on each:
an API key (401; 503 `service_busy`: the key is looked up in the database), an admin key (403),
a path id (404), parameters or a body (422), a body (400), a multipart body (413, 415). Each is
in the one error shape, `ErrorPublic`. Errors particular to a route (409, 410, 429...) stay
declared on the route itself.
"""

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.api.deps import admin_key, metrics_access
from app.schemas import ErrorPublic

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's own error statuses, in the one error shape."""
    return {code: {"model": ErrorPublic} for code in codes}


def _calls(dependant: Dependant) -> Iterable[Callable[..., Any] | None]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _admin_operations(routers: Iterable[APIRouter]) -> set[tuple[str, str]]:
    operations = set()
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                calls = set(_calls(route.dependant))
                if admin_key in calls or metrics_access in calls:
                    operations |= {(m.lower(), route.path) for m in route.methods or ()}
    return operations


def _error_codes(method: str, path: str, operation: dict[str, Any], admin: set[Any]) -> set[int]:
    params = {(p["in"], p["name"].lower()) for p in operation.get("parameters", [])}
    body = operation.get("requestBody", {}).get("content", {})
    codes: set[int] = set()
    if {("header", "authorization"), ("header", "x-api-key")} & params:
        codes |= {401, 503}
    if (method, path) in admin:
        codes |= {401, 403, 503}
    if any(where == "path" for where, _ in params):
        codes.add(404)
    if params or body:
        codes.add(422)
    if body:
        codes.add(400)
    if "multipart/form-data" in body:
        codes |= {413, 415}
    return codes


def document_errors(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Make `app.openapi()` add each route's shape-implied error statuses to its responses."""
    generate = app.openapi
    admin = _admin_operations(routers)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("ErrorPublic", ErrorPublic.model_json_schema())
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for code in sorted(_error_codes(method, path, operation, admin)):
                    responses.setdefault(
                        str(code), {"description": HTTPStatus(code).phrase, "content": _ERROR}
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
