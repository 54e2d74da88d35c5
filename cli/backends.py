"""`atelier backends`: measure every inference backend on a model, the measurement `auto`
makes, and remember the winner for this model and machine."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.gan import DEVICE_HELP, clear_errors


def backends(
    model: Path | None = typer.Option(
        None, help="GAN model file (default: the built-in model, ATELIER_BUILTIN_MODEL)."
    ),
    side: int = typer.Option(512, min=64, help="Side of the square probe picture (px)."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
) -> None:
    """Time each installed backend on the model (export and parity check first, cached), print
    the figures, and make the fastest the one `auto` picks on this machine from now on."""
    with clear_errors():
        import logging

        import torch

        from cli.gan import gan_model
        from models.backends import GraphDirectory, describe, measure
        from models.backends.select import installed_graph_backends
        from models.inference import GANStylizer

        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("onnx_ir").setLevel(logging.WARNING)
        path = gan_model("gan", model)
        assert path is not None  # gan_model gives a file for the gan method or fails
        cache = GraphDirectory()
        stylizers = [
            GANStylizer.from_file(path, device=device, backend=name, graph_cache=cache)
            for name in ["torch", *installed_graph_backends()]
        ]
        cpu = "AVX-512" if "avx512f" in Path("/proc/cpuinfo").read_text() else "AVX2 or older"
        typer.echo(f"{path.name} at {side} px, {torch.get_num_threads()} threads, CPU: {cpu}")
        for seconds, backend in measure([s.backend for s in stylizers], side, rounds=7):
            precision = describe(backend)["precision"]
            typer.echo(
                f"  {backend.name:12s} {backend.version:14s} {precision:5s} {seconds * 1000:8.1f} ms"
            )
        chosen = GANStylizer.from_file(
            path, device=device, backend="auto", graph_cache=cache, remeasure=True
        )
        typer.echo(f"auto now picks {chosen.backend_info['name']} for this model here")


def register(app: typer.Typer) -> None:
    app.command()(backends)
