"""The ASGI app: `uvicorn app.main:app` (or `atelier api`)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import crud, page, reaper, retention
from app.api.errors import install_handlers
from app.api.openapi import document_errors
from app.api.routes import (
    campaigns,
    health,
    image_sets,
    jobs,
    keys,
    me,
    models,
    styles,
    stylizations,
    trainings,
    videos,
)
from app.api.timing import make_stage_histogram
from app.config import Settings, get_settings
from app.db import check_migrated, make_engine, make_sessionmaker, pool_options
from app.limits import SubmissionLimits
from app.notify import JobWaiter
from app.queue import make_client
from app.storage import storage_for


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Refuse to serve on an unmigrated database; the message names the command to run.
        check_migrated(app.state.engine)
        if not logging.getLogger().handlers:  # uvicorn configures only its own loggers
            logging.basicConfig(
                level=settings.log_level, format="%(levelname)s %(name)s: %(message)s"
            )
        with app.state.sessionmaker() as session:
            done = crud.register_builtin_styles(
                session, storage=app.state.storage, enabled=settings.builtin_styles
            )
        app.state.logger.info(done)
        tasks = []
        if settings.run_reaper:
            factory = app.state.sessionmaker
            tasks.append(
                asyncio.create_task(reaper.run_forever(factory, app.state.queue, settings))
            )
            tasks.append(
                asyncio.create_task(retention.run_forever(factory, app.state.storage, settings))
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.job_waiter.close()
            app.state.engine.dispose()

    app = FastAPI(
        title="Atelier",
        version="0.1.0",
        summary="Image style transfer: submit a content and a style image, get a stylized image.",
        lifespan=lifespan,
    )
    engine = make_engine(settings.sqlalchemy_url, **pool_options(settings))
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.limits = SubmissionLimits(settings, app.state.sessionmaker)
    app.state.storage = storage_for(settings)
    app.state.queue = make_client(settings)
    app.state.logger = logging.getLogger("atelier.api")
    app.state.api_stage_seconds = make_stage_histogram()
    app.state.job_waiter = JobWaiter(settings)
    install_handlers(app)
    routers = [
        module.router
        for module in (
            stylizations,
            videos,
            campaigns,
            jobs,
            styles,
            models,
            trainings,
            me,
            keys,
            health,
        )
    ]
    for router in (*routers, image_sets.style_sets, image_sets.content_sets):
        app.include_router(router)
    document_errors(app, [*routers, image_sets.style_sets, image_sets.content_sets])
    page.install(app)
    return app


def __getattr__(name: str) -> FastAPI:
    # `app.main:app` is built on first access, so importing this module reads no settings.
    if name == "app":
        return create_app()
    raise AttributeError(name)
