"""`atelier stylize-video`: a clip in, a steady stylized clip out. torch, PyAV and OpenCV are
imported inside the command, as in the other GAN commands."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import typer

from cli.gan import DEVICE_HELP, backend_option, check_backend, clear_errors, describe_backend
from contracts.stylize import MIN_SIDE
from contracts.video import STABILITY_MAX


def _fingerprint(*parts: object) -> str:
    """What a run's segments depend on: a rerun with other inputs or options starts afresh."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            stat = part.stat()
            part = f"{part.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        digest.update(repr(part).encode())
    return digest.hexdigest()[:12]


def stylize_video(
    source: Path = typer.Argument(..., help="The clip (MP4, MOV, WebM, MKV...)."),
    style: Path = typer.Option(..., "--style", help="Style image."),
    out: Path = typer.Option(..., "-o", "--out", help="Output clip (.mp4, H.264)."),
    model: Path | None = typer.Option(
        None, help="GAN model file (default: the built-in model, ATELIER_BUILTIN_MODEL)."
    ),
    strength: float = typer.Option(1.0, min=0.0, max=1.0, help="0 = the photo, 1 = full style."),
    preserve_color: bool = typer.Option(False, help="Keep the clip's colours."),
    max_side: int | None = typer.Option(
        None,
        min=MIN_SIDE,
        help="The output's longer side at most this (px); default: the clip's size.",
    ),
    stability: float | None = typer.Option(
        None,
        min=0.0,
        max=STABILITY_MAX,
        help="Weight of the previous frame's result, carried along the motion, on each frame: "
        "0 stylizes frame by frame (flickers), higher is steadier and softer. Default: by the "
        "frame size, 0.6 at 640x360 to 0.55 at 1280x720 and above.",
    ),
    poster: Path | None = typer.Option(None, help="Also write the first frame here (.jpg, .png)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    backend: str = backend_option(),
) -> None:
    """Stylize a video clip: same frames, timing and sound, a picture that does not flicker.

    Interrupted, it keeps its finished segments beside OUT; the same command resumes there.
    """
    with clear_errors():
        from tqdm import tqdm

        from cli.gan import gan_model
        from cli.labels import cli_label, labelled_bytes
        from contracts.labels import xmp_packet
        from contracts.mp4_xmp import append_xmp
        from models.images import load_image
        from models.inference import load_stylizer
        from models.video.join import join_segments
        from models.video.pipeline import VideoOptions, frame_stylizer
        from models.video.pipeline import stylize_video as run_pipeline
        from models.video.probe import probe
        from models.video.segments import DirectorySink
        from models.video.stability import StabilitySettings

        if out.suffix.lower() != ".mp4":
            raise ValueError(f"{out}: the output must end in .mp4")
        if poster is not None and poster.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            raise ValueError(f"{poster}: the poster must end in .jpg or .png")
        info = probe(source, max_seconds=None, max_side=None)
        model = gan_model("gan", model)
        if model is None:  # gan_model gives the GAN a file or raises; never None here
            raise ValueError("no model file")
        painting = load_image(style)
        stylizer = load_stylizer(model, device=device, backend=check_backend(backend))
        if stylizer.untrained:
            typer.echo("warning: UNTRAINED encoder: this output is for tests only", err=True)
        style_stats = stylizer.style_stats(painting)  # type: ignore[attr-defined]
        options = VideoOptions(max_side=max_side, stability=StabilitySettings(amount=stability))
        key = _fingerprint(source, style, model, strength, preserve_color, options)
        sink = DirectorySink(out.with_name(f".{out.name}.{key}.parts"))
        resumed = sink.finished()
        if resumed:
            typer.echo(f"resuming after {resumed} finished segments ({sink.root})", err=True)
        bar = tqdm(total=info.frames, unit="frame", dynamic_ncols=True, file=sys.stderr)

        def show(done: int, total: int) -> None:
            bar.update(done - bar.n)

        try:
            run = run_pipeline(
                source,
                info,
                frame_stylizer(
                    stylizer, [style_stats], strength=strength, preserve_color=preserve_color
                ),
                sink,
                options=options,
                progress=show,
            )
        except KeyboardInterrupt:
            bar.close()
            typer.echo(f"interrupted: run the same command again to resume ({sink.root})", err=True)
            raise
        bar.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        join_segments(sink, run.segments, source, out, rotation=info.rotation)
        sink.clear()
        # Labelled as the service labels a video job's MP4 and poster (cli/labels.py).
        label = cli_label("gan", model, [style], medium="video")
        append_xmp(out, xmp_packet(label))
        if poster is not None:
            from PIL import Image

            from models.video.decode import first_frame

            poster.write_bytes(labelled_bytes(Image.fromarray(first_frame(out)), poster, label))
        width, height = run.size
        typer.echo(
            f"wrote {out} ({width}x{height}, {info.frames} frames, {info.duration:.2f} s"
            f"{', audio copied' if info.has_audio else ''}; {describe_backend(stylizer)})"
        )


def register(app: typer.Typer) -> None:
    app.command("stylize-video")(stylize_video)
