"""A sheet that shows whether a model paints the marks of a painting: photos down the side,
for each painting a column per model, every result at 512 px on its longer side.

    python scripts/marks_sheet.py --models OLD.safetensors NEW.safetensors \
        --photos ../shared/samples/content/avril.jpg ... \
        --paintings app/builtin_styles/ducks-mosaic.jpg ... -o docs/model/marks_sheet.jpg

Issue 19 asks for candy's swirls, a mosaic's tiles and cubist blocks visible at 512 px, and for
faces that keep their eyes and mouths: the evaluation's contact sheet is 256 px and has few
faces, so this one is drawn at the size a user sees.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from models.evaluation import save_jpeg_under
from models.images import load_image, resize_max_side
from models.inference import GANStylizer

SIDE = 512
LABEL = 18


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--names", nargs="+", help="A short name per model (the file stems).")
    parser.add_argument("--photos", type=Path, nargs="+", required=True)
    parser.add_argument("--paintings", type=Path, nargs="+", required=True)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--cell", type=int, default=256, help="Side of a cell on the sheet (px).")
    args = parser.parse_args()
    names = args.names or [m.stem for m in args.models]
    stylizers = [GANStylizer.from_file(m) for m in args.models]
    photos = [resize_max_side(load_image(p), SIDE) for p in args.photos]
    paintings = [load_image(p) for p in args.paintings]

    cell = args.cell
    columns = 1 + len(paintings) * len(stylizers)
    sheet = Image.new("RGB", (columns * cell, LABEL + (1 + len(photos)) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for j, painting in enumerate(paintings):
        for k, name in enumerate(names):
            x = (1 + j * len(names) + k) * cell
            draw.text((x + 4, 2), f"{args.paintings[j].stem} / {name}", fill="black")
            sheet.paste(_fit(painting, cell), (x, LABEL))
    for i, photo in enumerate(photos):
        y = LABEL + (1 + i) * cell
        sheet.paste(_fit(photo, cell), (0, y))
        for j, painting in enumerate(paintings):
            for k, stylizer in enumerate(stylizers):
                x = (1 + j * len(names) + k) * cell
                sheet.paste(_fit(stylizer(photo, [painting]), cell), (x, y))
        print(f"{args.photos[i].name}: done", flush=True)  # noqa: T201
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_jpeg_under(sheet, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")  # noqa: T201


def _fit(image: Image.Image, cell: int) -> Image.Image:
    """The image within a cell x cell square, centred on white."""
    image = resize_max_side(image, cell)
    out = Image.new("RGB", (cell, cell), "white")
    out.paste(image, ((cell - image.width) // 2, (cell - image.height) // 2))
    return out


if __name__ == "__main__":
    main()
