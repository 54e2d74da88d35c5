"""GAN commands: train, stylize, evaluate. torch is imported inside each command."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from cli.labels import FORMATS_BY_SUFFIX, cli_label, labelled_bytes
from contracts import stylize as limits
from contracts.stylize import METHODS, MIN_SIDE

DEVICE_HELP = "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps."
BACKEND_HELP = (
    "Inference backend for the GAN: auto (the fastest installed one whose exported graphs match "
    "torch, measured once per architecture and machine), torch, onnxruntime or openvino."
)


def precision_option() -> Any:
    """--precision, defaulting to $ATELIER_INFERENCE_PRECISION, else auto."""
    import os

    return typer.Option(
        os.environ.get("ATELIER_INFERENCE_PRECISION", "auto"),
        help="auto (bf16 where the CPU has native bf16), f32 or bf16.",
    )


def backend_option() -> Any:
    """--backend, defaulting to $ATELIER_BACKEND (or $ATELIER_RUNTIME), else auto."""
    import os

    default = os.environ.get("ATELIER_BACKEND") or os.environ.get("ATELIER_RUNTIME") or "auto"
    return typer.Option(default, "--backend", "--runtime", help=BACKEND_HELP)


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
    from models.backends import BackendUnavailableError
    from models.encoders import EncoderUnavailableError
    from models.images import ImageError
    from models.modelfile import ModelFileError

    try:
        yield
    except (
        ImageError,
        ModelFileError,
        EncoderUnavailableError,
        BackendUnavailableError,
        ValueError,
    ) as err:
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
        from models.train import TrainConfig
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
        bar, show = training_bar(steps)
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


def training_bar(total: int, initial: int = 0) -> tuple[Any, Callable[[Any], None]]:
    """A tqdm bar on stderr and the progress callback that moves it (step, losses, images/s)."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=sys.stderr)

    def show(p: Any) -> None:  # models.train.TrainProgress
        bar.n = p.step
        names = ("style", "content", "color", "d")
        shown = {k: f"{p.losses[k]:.3f}" for k in names if k in p.losses}
        if p.losses.get("temporal"):  # a recipe with the temporal term: it is ~1e-3
            shown["temporal"] = f"{p.losses['temporal']:.5f}"
        if p.losses.get("teacher"):  # a distillation recipe: mean absolute pixel difference
            shown["teacher"] = f"{p.losses['teacher']:.4f}"
        if p.losses.get("teacher_features"):
            shown["teacher_f"] = f"{p.losses['teacher_features']:.3f}"
        bar.set_postfix(**shown, img_s=f"{p.images_per_s:.1f}")
        bar.refresh()

    return bar, show


def _train_recipe(
    recipe_path: Path, content_dir: Path, style_dir: Path, out: Path, checkpoint: Path | None,
    device: str,
) -> None:  # fmt: skip
    from models.recipe import checkpoint_step, load_recipe, run_recipe

    recipe = load_recipe(recipe_path)
    for stage in recipe.stages:
        stage.device = device
    ckpt = checkpoint or Path(str(out) + ".ckpt")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = checkpoint_step(ckpt)
    if done:
        typer.echo(f"resuming {recipe.name} from step {done} ({ckpt})", err=True)
    bar, show = training_bar(recipe.total_steps, initial=done)

    def save_preview(step: int, images: object) -> None:
        # Photos over results, one PNG beside the output, rewritten at every validation.
        from torchvision.utils import save_image

        save_image(images.flatten(0, 1), Path(str(out) + ".preview.png"), nrow=images.shape[1])  # type: ignore[attr-defined]

    run_recipe(
        recipe, content_dir, style_dir, out, checkpoint=ckpt, progress=show, preview=save_preview
    )
    bar.close()
    typer.echo(f"wrote {out}")


def gan_model(method: str, model: Path | None) -> Path | None:
    """The model file `atelier stylize` runs: --model, else the built-in one; None for the
    optimisation method. ValueError for an unknown method or a GAN without a model file."""
    from app.config import get_settings

    if method not in METHODS:
        raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "optimisation":
        if model is not None:
            raise ValueError("--model names a GAN: the optimisation method uses none")
        return None
    if model is not None:
        return model
    builtin = get_settings().builtin_model_path
    if builtin is None or not builtin.is_file():
        where = f"no file at {builtin}" if builtin is not None else "ATELIER_BUILTIN_MODEL is empty"
        raise ValueError(
            f"method gan needs a model file and the built-in one is missing ({where}): give "
            "--model FILE, or --method optimisation (slow)"
        )
    return builtin


def stylize(
    content: Path = typer.Argument(..., help="The photo."),
    style: list[Path] = typer.Option(..., "--style", help="Style image; repeat to blend styles."),
    out: Path = typer.Option(..., "-o", "--out", help="Output image (.png, .jpg, .webp)."),
    model: Path | None = typer.Option(
        None, help="GAN model file (default: the built-in model, ATELIER_BUILTIN_MODEL)."
    ),
    method: str = typer.Option(
        "gan",
        help="gan: a GAN model file (fast); optimisation: no model, slow, highest fidelity.",
    ),
    style_weights: str | None = typer.Option(
        None, help="Comma-separated weights, one per --style."
    ),
    strength: float = typer.Option(
        1.0, min=0.0, max=1.0, help="Shorthand: 0 = the photo, 1 = full colour and texture."
    ),
    preserve_color: bool = typer.Option(
        False, help="Shorthand for --color-strength 0: keep the photo's colours."
    ),
    color_strength: float | None = typer.Option(
        None,
        min=limits.CONTROL_MIN,
        max=limits.CONTROL_MAX,
        help="How far the colours move to the painting's palette (0 = the photo's); "
        "replaces --strength/--preserve-color.",
    ),
    texture_strength: float | None = typer.Option(
        None,
        min=limits.CONTROL_MIN,
        max=limits.CONTROL_MAX,
        help="How much of the style's marks are kept (0 = the photo's surfaces).",
    ),
    stroke_scale: float | None = typer.Option(
        None,
        min=limits.STROKE_SCALE_MIN,
        max=limits.STROKE_SCALE_MAX,
        help=f"The marks' size relative to the picture, the same at any size "
        f"({limits.STROKE_SCALE_DEFAULT} = the look at {limits.STROKE_REFERENCE_SIDE} px; "
        "default: the model's own size in pixels).",
    ),
    tile_size: int | None = typer.Option(
        None,
        "--tile-size",
        "--max-side",
        min=MIN_SIDE,
        help="With --model: the largest side processed in one pass; larger photos are processed "
        "in tiles (--max-side: its old name).",
    ),
    steps: int = typer.Option(200, min=1, help="Optimisation steps (--method optimisation)."),
    image_size: int = typer.Option(
        512, min=MIN_SIDE, help="--method optimisation: the method's working size."
    ),
    encoder: str = typer.Option("efficientnet-lite0", help="Encoder for the optimisation method."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    backend: str = backend_option(),
    precision: str = precision_option(),
) -> None:
    """Stylize a photo with one or more style images."""
    with clear_errors():
        from tqdm import tqdm

        from models.images import load_image
        from models.inference import load_stylizer

        limits.resolve_controls(strength, preserve_color, color_strength, texture_strength)
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
        if out.suffix.lower() not in FORMATS_BY_SUFFIX:
            raise ValueError(f"{out}: output must end in .png, .jpg or .webp")
        model = gan_model(method, model)
        photo = load_image(content)
        styles = [load_image(s) for s in style]
        stylizer = load_stylizer(
            model,
            encoder=encoder,
            device=device,
            optimisation_steps=steps,
            optimisation_size=image_size,
            **(
                {"backend": check_backend(backend), "precision": precision}
                if model is not None
                else {}
            ),
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
            color_strength=color_strength,
            texture_strength=texture_strength,
            stroke_scale=stroke_scale,
        )
        bar.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        # Labelled as the service labels its results (cli/labels.py); the photo's EXIF stays out.
        label = cli_label(stylizer.method, model, style)
        out.write_bytes(labelled_bytes(result, out, label))
        typer.echo(f"wrote {out} ({stylizer.method}, {describe_backend(stylizer)})")


def check_backend(choice: str) -> str:
    """The choice, or a clear error naming the choices (ValueError: exit 2)."""
    from contracts.backends import check_backend_choice, missing_backend

    problem = missing_backend(check_backend_choice(choice))
    if problem is not None:
        raise ValueError(problem)
    return choice


def describe_backend(stylizer: Any) -> str:
    info = getattr(stylizer, "backend_info", None) or {"name": "torch", "version": "?"}
    return f"backend {info['name']} {info['version']}"


def register(app: typer.Typer) -> None:
    """Attach the GAN commands to the root `atelier` app."""
    app.command()(train)
    app.command()(stylize)
