"""Service commands (serve, api, worker, db, keys)."""

import typer


def register(app: typer.Typer) -> None:
    """Attach the service commands to the root `atelier` app."""
