"""A short probe of the second generator's design choices (docs/generator2_log.md): each variant
fine-tunes the shipped model for a few steps on a fixed subset of the training corpus, then its
raw generator is scored on fixed validation pairs. A probe, not a training run: it says which
variant moves fastest toward the painting from the shipped weights, and what that costs.

    python scripts/probe_generator2.py --corpus ../shared/corpus --steps 60 --size 128

One torch thread; the subsets are symbolic links in a temporary folder (nothing is copied).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.evaluation import evaluate  # noqa: E402
from models.images import list_images, load_image  # noqa: E402
from models.inference import GANStylizer  # noqa: E402
from models.networks import GeneratorConfig  # noqa: E402
from models.train import TrainConfig, Trainer  # noqa: E402

SHIPPED = Path(__file__).resolve().parent.parent / "models/shipped/atelier-default.safetensors"
MARKS = {"style_taps": ("s2", "s4", "s8", "s16", "s16x"), "w_sliced": 2.0, "w_local": 2.0}
VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "A adain-skip": ("adain-skip", {}),
    "B modulated": ("modulated", {}),
    "C adain-skip + mark losses": ("adain-skip", MARKS),
    "D modulated + mark losses": ("modulated", MARKS),
}


def subset(folder: Path, n: int, into: Path) -> Path:
    into.mkdir(parents=True)
    for p in list_images(folder)[:: max(1, len(list_images(folder)) // n)][:n]:
        (into / p.name).symlink_to(p.resolve())
    return into


def base_config(size: int, seed: int) -> TrainConfig:
    # recipes/default-style.toml's terms (the shipped model's last recipe), at the probe's size.
    return TrainConfig(
        image_size=size, batch_size=4, lr_g=1e-4, lr_d=2e-4, w_adv=0.5, w_content=10.0,
        w_style=12.0, w_color=1000.0, w_identity=1.0, content_taps=("s4", "s8", "s16"),
        style_conditioned_d=True, ema_decay=0.99, encoder="efficientnet-lite0", device="cpu",
        seed=seed, threads=1,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--eval-size", type=int, default=256)
    parser.add_argument("--train-images", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="variant letters to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    val_photos = [load_image(p) for p in list_images(args.corpus / "val/photos")[::19][:8]]
    val_paintings = [load_image(p) for p in list_images(args.corpus / "val/paintings")[::25][:4]]
    with tempfile.TemporaryDirectory() as tmp:
        content = subset(args.corpus / "train/photos", args.train_images, Path(tmp) / "c")
        style = subset(args.corpus / "train/paintings", args.train_images, Path(tmp) / "s")
        print(f"{'variant':<30}{'s/step':>8}{'style':>8}{'colour':>8}{'ssim':>7}{'content':>9}")
        variants = {"0 shipped (no step)": ("adain-skip", {}), **VARIANTS}
        for name, (architecture, extra) in variants.items():
            if args.only and name[0] not in args.only:
                continue
            config = dataclasses.replace(base_config(args.size, args.seed), **extra)  # type: ignore[arg-type]
            config.generator = GeneratorConfig(architecture=architecture)
            trainer = Trainer(config, content, style, init_model=SHIPPED)
            steps = 0 if name.startswith("0") else args.steps
            start = time.perf_counter()
            for _ in range(steps):
                trainer.step()
            per_step = (time.perf_counter() - start) / max(1, steps)
            stylizer = GANStylizer(
                trainer.G.eval(), trainer.encoder, torch.device("cpu"), bf16=False
            )
            scores = evaluate(
                stylizer, val_photos, val_paintings, image_size=args.eval_size, reference_steps=0
            ).scores()
            print(
                f"{name:<30}{per_step:>8.2f}{scores['style']:>8.2f}{scores['color']:>8.2f}"
                f"{scores['ssim']:>7.3f}{scores['content']:>9.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
