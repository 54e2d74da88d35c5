"""The `atelier` command: GAN commands (train, stylize, evaluate) and service commands.

Each command imports its heavy dependencies (torch, the web stack) inside its body, so that
`atelier --help` and the service commands stay fast and the API process never loads torch.
"""

import typer

from cli import admin, backends, evaluate, gan, service, snapshot, video

app = typer.Typer(
    name="atelier",
    help="Atelier: GAN-based image style transfer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
gan.register(app)
evaluate.register(app)
video.register(app)
service.register(app)
admin.register(app)
backends.register(app)
snapshot.register(app)


def main() -> None:
    from app.config import SettingsError

    try:
        app()
    except SettingsError as exc:  # a bad ATELIER_* variable: one clear line, exit code 2
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
