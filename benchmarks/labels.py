"""What a result's label and signature cost: the worker's encode of one result, plain (the
baseline, measured in the same run), with the XMP label, and with the label and a C2PA manifest
signed by a throwaway EC P-256 chain (tests/service/c2pa_certs.py), per output format.

    python benchmarks/labels.py [--sizes 512,1024,2048] [--repeat 7]

The image is a smooth photo-like gradient with grain (what a result looks like to an encoder).
Prints the median milliseconds of each, and the added time over the plain encode.
"""

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "service"))

from c2pa_certs import throwaway_chain  # noqa: E402

from app.images import encode  # noqa: E402
from contracts.credits import BUILTIN, StyleCredit  # noqa: E402
from contracts.labels import OutputLabel, xmp_packet  # noqa: E402
from worker.provenance import Ingredient, ProvenanceSigner  # noqa: E402


def result_like(side: int) -> Image.Image:
    rng = np.random.default_rng(0)
    h, w = (side * 3) // 4, side
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w * 200, y / h * 180, (x + y) / (w + h) * 160], axis=-1)
    grain = rng.normal(0, 6, size=(h, w, 3))
    return Image.fromarray(np.clip(base + grain + 30, 0, 255).astype(np.uint8))


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        chain = throwaway_chain(Path(folder))
        signer = ProvenanceSigner(chain.cert.read_bytes(), chain.key.read_bytes())
    credit = StyleCredit("Starry", BUILTIN, "The Starry Night", "Vincent van Gogh", None, "PD")
    label = OutputLabel("0.1.0", "gan", "atelier-default", "ab" * 32, (credit,))
    packet = xmp_packet(label)
    photo = io.BytesIO()
    result_like(512).save(photo, format="JPEG", quality=90)
    ingredients = [Ingredient("photo.jpg", photo.getvalue()), Ingredient(credit.line(), None)]
    print(f"XMP packet: {len(packet)} bytes; C2PA key: EC P-256; median of {args.repeat}")
    print(
        "| size | format | plain ms | + XMP ms | + XMP + C2PA ms | added by the label | added by signing |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for side in (int(s) for s in args.sizes.split(",")):
        image = result_like(side)
        for fmt in ("png", "jpeg", "webp"):
            plain = median_ms(lambda: encode(image, fmt), args.repeat)  # noqa: B023
            labelled = median_ms(lambda: encode(image, fmt, packet), args.repeat)  # noqa: B023

            def signed() -> bytes:
                data, mime = encode(image, fmt, packet)  # noqa: B023
                return signer.sign(data, mime, label, ingredients)

            both = median_ms(signed, args.repeat)
            print(
                f"| {image.width}x{image.height} | {fmt} | {plain:.1f} | {labelled:.1f} | "
                f"{both:.1f} | {labelled - plain:+.1f} ms | {both - labelled:+.1f} ms |"
            )


if __name__ == "__main__":
    main()
