"""Alembic environment: the URL comes from the caller (`atelier db upgrade`) or the settings."""

from alembic import context

import app.tables  # noqa: F401  (registers the tables on Base.metadata)
from app.db import Base, make_engine

config = context.config
if not config.get_main_option("sqlalchemy.url"):
    from app.config import get_settings

    config.set_main_option("sqlalchemy.url", get_settings().sqlalchemy_url.replace("%", "%%"))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # The service's own engine factory: creates the SQLite folder and sets the same pragmas.
    connectable = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with connectable.connect() as connection:
        # Batch mode so later ALTERs work on SQLite too.
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
