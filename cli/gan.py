"""GAN commands (train, stylize, evaluate)."""

import typer


def register(app: typer.Typer) -> None:
    """Attach the GAN commands to the root `atelier` app."""
