"""Does `stroke_scale` keep the look at every output size? The acceptance of issue 21, item 1.

A photo stylized at several output sizes, with the same stroke_scale and without it (the
baseline, in the same run), each result scaled down to 512 px and scored by `atelier
evaluate`'s style distance (models/scores.py: encoder feature means and stds against the
painting's) on the shipped model. Prints each score and, per row, the largest spread from the
row's mean; writes the side-by-side crops (the same part of the picture at each size, the
control on the top row and without it below) that docs/api/style-controls.md and the README
show.

    python benchmarks/stroke_scale.py --photo PHOTO [--style PAINTING] [--sizes 512,1024,4096]
        [--stroke-scale 1] [--crops docs/api/stroke_scale.jpg]
"""

import argparse
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models.images import load_image  # noqa: E402
from models.inference import GANStylizer  # noqa: E402
from models.scores import COLOR_SEED, _Targets  # noqa: E402

SHIPPED = REPO / "models" / "shipped" / "atelier-default.safetensors"
SCORED_SIDE = 512
CROP = (0.35, 0.3, 0.6, 0.55)  # the part of the picture shown, relative; a 256 px tile each


def at_side(image: Image.Image, side: int) -> Image.Image:
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def crop(image: Image.Image) -> Image.Image:
    w, h = image.size
    box = (round(CROP[0] * w), round(CROP[1] * h), round(CROP[2] * w), round(CROP[3] * h))
    return image.crop(box).resize((256, 256), Image.Resampling.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--style", type=Path, default=REPO / "app/builtin_styles/great-wave.jpg")
    parser.add_argument("--sizes", default="512,1024,4096")
    parser.add_argument("--stroke-scale", type=float, default=1.0)
    parser.add_argument("--tile-size", type=int, default=1024)
    parser.add_argument("--crops", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    stylizer = GANStylizer.from_file(SHIPPED, device="cpu", backend="torch")
    photo, painting = load_image(args.photo), load_image(args.style)
    stats = stylizer.style_stats(painting)
    targets = _Targets(stylizer.encoder, [at_side(photo, SCORED_SIDE)], [painting])
    rows: dict[str, list[float]] = {}
    tiles: dict[str, list[Image.Image]] = {}
    for label, scale in (
        (f"stroke_scale={args.stroke_scale}", args.stroke_scale),
        ("without", None),
    ):
        for side in sizes:
            start = time.perf_counter()
            result = stylizer(
                at_side(photo, side), [stats], stroke_scale=scale, tile_size=args.tile_size
            )
            seconds = time.perf_counter() - start
            small = at_side(result, SCORED_SIDE).resize(targets.photos[0].size)
            score = targets.pair_scores(0, 0, small, COLOR_SEED)[1]
            rows.setdefault(label, []).append(score)
            tiles.setdefault(label, []).append(crop(result))
            print(f"{label:>18} {side:>5} px: style {score:6.2f}  ({seconds:.1f} s)", flush=True)
    print(f"\nstyle distance at {', '.join(map(str, sizes))} px, each scaled to {SCORED_SIDE} px")
    for label, scores in rows.items():
        mean = sum(scores) / len(scores)
        spread = max(abs(s - mean) for s in scores) / mean
        print(f"{label:>18}: {'  '.join(f'{s:6.2f}' for s in scores)}   spread {spread:.1%}")
    if args.crops is not None:
        sheet = Image.new("RGB", (256 * len(sizes), 256 * len(tiles)), "white")
        for row, label in enumerate(tiles):
            for col, tile in enumerate(tiles[label]):
                sheet.paste(tile, (256 * col, 256 * row))
        sheet.save(args.crops, quality=88)
        print(f"wrote {args.crops}")


if __name__ == "__main__":
    main()
