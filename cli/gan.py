"""GAN commands: train, stylize, evaluate. torch is imported inside each command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from contracts.stylize import MIN_SIDE

DEVICE_HELP = "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps."


def setting(name: str) -> Any:
    """An `atelier train` option with the default, bounds and help of `contracts.training`
    (the API's training fields take theirs from the same table)."""
    from contracts.training import BY_NAME

    s = BY_NAME[name]
    return typer.Option(s.default, min=s.ge, max=s.le, help=s.help)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Bad input ends in one line on stderr and exit code 2, never a traceback."""
    from models.encoders import EncoderUnavailableError
    from models.images import ImageError
    from models.modelfile import ModelFileError

    try:
        yield
    except (ImageError, ModelFileError, EncoderUnavailableError, ValueError) as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise fail("interrupted") from None


# Options that a recipe sets itself; giving one with --recipe is an error, not silently ignored.
RECIPE_OWNS = (
    "steps", "image_size", "batch_size", "encoder", "init", "checkpoint_every",
    "w_style", "w_content", "w_adv", "adversarial", "seed", "resume",
)  # fmt: skip


def train(
    ctx: typer.Context,
    content_dir: Path = typer.Option(..., help="Folder of content photos."),
    style_dir: Path = typer.Option(..., help="Folder of style paintings."),
    out: Path = typer.Option(..., help="Model file to write (.safetensors)."),
    steps: int = setting("steps"),
    image_size: int = setting("image_size"),
    batch_size: int = setting("batch_size"),
    encoder: str = setting("encoder"),
    resume: Path | None = typer.Option(None, help="Checkpoint to resume from."),
    init: Path | None = typer.Option(None, help="Model file to fine-tune from."),
    checkpoint: Path | None = typer.Option(None, help="Checkpoint path (default: OUT.ckpt)."),
    checkpoint_every: int = setting("checkpoint_every"),
    w_style: float = setting("w_style"),
    w_content: float = setting("w_content"),
    w_adv: float = setting("w_adv"),
    adversarial: str = setting("adversarial"),
    device: str = setting("device"),
    seed: int = setting("seed"),
    recipe: Path | None = typer.Option(
        None,
        help="Recipe file (TOML) describing the whole run, stage by stage; resumes from the "
        "checkpoint when it exists. The recipe sets every training option.",
    ),
) -> None:
    """Train the style-transfer GAN on a content folder and a style folder."""
    with clear_errors():
        from tqdm import tqdm

        if recipe is not None:
            # Compared by name: typer vendors its own click, whose enum is not click's.
            given = [
                n
                for n in RECIPE_OWNS
                if getattr(ctx.get_parameter_source(n), "name", "") == "COMMANDLINE"
            ]
            if given:
                opts = ", ".join("--" + n.replace("_", "-") for n in given)
                raise ValueError(f"{opts}: set by the recipe; edit the recipe file instead")
            _train_recipe(recipe, content_dir, style_dir, out, checkpoint, device)
            return

        from contracts.training import BY_NAME
        from models.train import TrainConfig, TrainProgress
        from models.train import train as run_training

        config = TrainConfig(
            steps=steps,
            image_size=image_size,
            batch_size=batch_size,
            encoder=encoder,
            device=device,
            seed=seed,
            adversarial=BY_NAME["adversarial"].check(adversarial),
            checkpoint_every=checkpoint_every,
            w_style=w_style,
            w_content=w_content,
            w_adv=w_adv,
        )
        for p in (resume, init):
            if p is not None and not p.is_file():
                raise ValueError(f"{p}: no such file")
        if encoder == "random":
            typer.echo(
                "warning: encoder 'random' is UNTRAINED: outputs are for tests only", err=True
            )
        bar = tqdm(total=steps, unit="step", dynamic_ncols=True, file=sys.stderr)

        def show(p: TrainProgress) -> None:
            bar.n = p.step
            bar.set_postfix(
                style=f"{p.losses['style']:.3f}",
                content=f"{p.losses['content']:.3f}",
                d=f"{p.losses['d']:.2f}",
                img_s=f"{p.images_per_s:.1f}",
            )
            bar.refresh()

        run_training(
            config,
            content_dir,
            style_dir,
            out,
            checkpoint=checkpoint,
            resume=resume,
            init_model=init,
            progress=show,
        )
        bar.close()
        typer.echo(f"wrote {out}")


def _train_recipe(
    recipe_path: Path, content_dir: Path, style_dir: Path, out: Path, checkpoint: Path | None,
    device: str,
) -> None:  # fmt: skip
    from tqdm import tqdm

    from models.recipe import checkpoint_step, load_recipe, run_recipe
    from models.train import TrainProgress

    recipe = load_recipe(recipe_path)
    for stage in recipe.stages:
        stage.device = device
    ckpt = checkpoint or Path(str(out) + ".ckpt")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = checkpoint_step(ckpt)
    if done:
        typer.echo(f"resuming {recipe.name} from step {done} ({ckpt})", err=True)
    bar = tqdm(
        total=recipe.total_steps, initial=done, unit="step", dynamic_ncols=True, file=sys.stderr
    )

    def show(p: TrainProgress) -> None:
        bar.n = p.step
        bar.set_postfix(
            style=f"{p.losses['style']:.3f}",
            content=f"{p.losses['content']:.3f}",
            color=f"{p.losses['color']:.3f}",
            d=f"{p.losses['d']:.2f}",
            img_s=f"{p.images_per_s:.1f}",
        )
        bar.refresh()

    def save_preview(step: int, images: object) -> None:
        # Photos over results, one PNG beside the output, rewritten at every validation.
        from torchvision.utils import save_image

        save_image(images.flatten(0, 1), Path(str(out) + ".preview.png"), nrow=images.shape[1])  # type: ignore[attr-defined]

    run_recipe(
        recipe, content_dir, style_dir, out, checkpoint=ckpt, progress=show, preview=save_preview
    )
    bar.close()
    typer.echo(f"wrote {out}")


def stylize(
    content: Path = typer.Argument(..., help="The photo."),
    style: list[Path] = typer.Option(..., "--style", help="Style image; repeat to blend styles."),
    out: Path = typer.Option(..., "-o", "--out", help="Output image (.png, .jpg, .webp)."),
    model: Path | None = typer.Option(
        None, help="GAN model file; without it, the optimisation method."
    ),
    style_weights: str | None = typer.Option(
        None, help="Comma-separated weights, one per --style."
    ),
    strength: float = typer.Option(1.0, min=0.0, max=1.0, help="0 = the photo, 1 = full style."),
    preserve_color: bool = typer.Option(False, help="Keep the photo's colours."),
    tile_size: int | None = typer.Option(
        None,
        "--tile-size",
        "--max-side",
        min=MIN_SIDE,
        help="With --model: the largest side processed in one pass; larger photos are processed "
        "in tiles (--max-side: its old name).",
    ),
    steps: int = typer.Option(200, min=1, help="Optimisation steps (without --model)."),
    image_size: int = typer.Option(
        512, min=MIN_SIDE, help="Without --model: the optimisation method's working size."
    ),
    encoder: str = typer.Option("efficientnet-lite0", help="Encoder for the optimisation method."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Stylize a photo with one or more style images."""
    with clear_errors():
        from tqdm import tqdm

        from models.images import load_image
        from models.inference import load_stylizer

        weights = None
        if style_weights:
            try:
                weights = [float(w) for w in style_weights.split(",")]
            except ValueError:
                raise ValueError(
                    f"--style-weights must be numbers, got {style_weights!r}"
                ) from None
            if len(weights) != len(style):
                raise ValueError(f"{len(weights)} style weights for {len(style)} styles")
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            raise ValueError(f"{out}: output must end in .png, .jpg or .webp")
        photo = load_image(content)
        styles = [load_image(s) for s in style]
        stylizer = load_stylizer(
            model,
            encoder=encoder,
            device=device,
            optimisation_steps=steps,
            optimisation_size=image_size,
        )
        if stylizer.untrained:
            typer.echo("warning: UNTRAINED encoder: this output is for tests only", err=True)
        bar = tqdm(total=100, unit="%", dynamic_ncols=True, file=sys.stderr)

        def show(fraction: float) -> None:
            bar.n = round(fraction * 100)
            bar.refresh()

        result = stylizer(
            photo,
            styles,
            weights=weights,
            strength=strength,
            preserve_color=preserve_color,
            tile_size=tile_size,
            progress=show,
        )
        bar.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        result.save(out)
        typer.echo(f"wrote {out} ({stylizer.method})")


def evaluate(
    model: Path = typer.Option(..., help="GAN model file."),
    content_dir: Path = typer.Option(..., help="Folder of content photos."),
    style_dir: Path = typer.Option(..., help="Folder of style paintings."),
    out: Path = typer.Option(..., "-o", "--out", help="Contact sheet PNG to write."),
    image_size: int = typer.Option(256, min=32, help="Evaluation size (longer side)."),
    reference: bool = typer.Option(True, help="Add the optimisation method's output as a column."),
    reference_steps: int = typer.Option(150, min=1),
    limit: int = typer.Option(4, min=1, help="At most this many contents and styles."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Score a model (content, style, KID) and write a contact sheet."""
    with clear_errors():
        from models.evaluation import evaluate as run_evaluation
        from models.images import list_images, load_image
        from models.inference import load_stylizer

        stylizer = load_stylizer(model, device=device)
        contents = [load_image(p) for p in list_images(content_dir)[:limit]]
        styles = [load_image(p) for p in list_images(style_dir)[:limit]]
        report = run_evaluation(
            stylizer,
            contents,
            styles,
            image_size=image_size,
            reference_steps=reference_steps if reference else 0,
        )
        report.sheet.save(out)
        for name, value in report.scores().items():
            typer.echo(f"{name:>24}: {value:.4f}")
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Attach the GAN commands to the root `atelier` app."""
    app.command()(train)
    app.command()(stylize)
    app.command()(evaluate)
