"""`atelier snapshot`: a model file from a training checkpoint, to score a run while it goes on."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.gan import clear_errors


def snapshot(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint (.safetensors)."),
    out: Path = typer.Option(..., "--out", "-o", help="The model file to write."),
) -> None:
    """Write the checkpoint's EMA generator as a model file (its step recorded as a snapshot),
    reading the checkpoint alone: a run training from it is not disturbed."""
    with clear_errors():
        from models.snapshot import snapshot_model

        info = snapshot_model(checkpoint, out)
        typer.echo(f"wrote {out} (EMA generator at step {info['snapshot']['checkpoint_step']})")


def register(app: typer.Typer) -> None:
    app.command()(snapshot)
