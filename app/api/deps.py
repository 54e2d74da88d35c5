"""FastAPI dependencies as `Annotated` aliases: handlers declare what they need by type."""

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from celery import Celery
from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app import crud
from app.api.errors import APIError
from app.config import Settings
from app.storage import Storage
from app.tables import ApiKey

T = TypeVar("T")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


def get_queue(request: Request) -> Celery:
    client: Celery = request.app.state.queue
    return client


async def run_db(session: Session, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(session, ...)` (blocking data access) in a worker thread, never on the event loop;
    then the session's connection goes back to the pool, so a handler holds none while it
    streams a body or decodes an image. Rows it returns stay readable (no expiry on commit)."""

    def call() -> T:
        try:
            return fn(session, *args, **kwargs)
        finally:
            session.close()

    return await run_in_threadpool(call)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
StorageDep = Annotated[Storage, Depends(get_storage)]
QueueDep = Annotated[Celery, Depends(get_queue)]


def current_key(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> ApiKey:
    """The caller's API key from `Authorization: Bearer ...` or `X-API-Key`."""
    secret = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            secret = value.strip()
    if not secret:
        raise APIError(
            401,
            "unauthorized",
            "an API key is required (Authorization: Bearer KEY or X-API-Key: KEY)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # A session of its own, closed before the handler runs: a request holds no connection
    # while its body streams in (the key's loaded columns stay readable once detached).
    with request.app.state.sessionmaker() as session:
        key = crud.get_api_key(session, secret=secret)
    if key is None:
        raise APIError(
            401,
            "unauthorized",
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def admin_key(key: CurrentKey) -> ApiKey:
    if not key.is_admin:
        raise APIError(403, "forbidden", "this route needs an admin key")
    return key


AdminKey = Annotated[ApiKey, Depends(admin_key)]


def metrics_access(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    """`/metrics` needs an admin key (Prometheus: `authorization: {credentials: KEY}`) unless
    `ATELIER_METRICS_PUBLIC` opens it, for a network where only the scraper reaches the API."""
    if not request.app.state.settings.metrics_public:
        admin_key(current_key(request, authorization, x_api_key))


MetricsAccess = Annotated[None, Depends(metrics_access)]
