"""The label `atelier stylize` writes into its output: the same XMP packet as the service's results
(contracts.labels: IPTC's digital source type for a composite made with a trained model, the
software and version, the model's name and sha256, each style's credit), so that a picture made
on a laptop says as much about itself as one made by the service.

A style file's credit is what is known of it, never a guess: a copy of a built-in painting
(recognised by its bytes, wherever it lies) is credited with the service's facts for it (title,
artist, source, licence); any other file is named only, by its file name. The output is encoded
from the stylized pixels alone (app.images.encode), so nothing of the photo's EXIF (a GPS
position, the camera) is carried over; its orientation was applied when it was read.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.credits import BUILTIN, UPLOADER, StyleCredit
from contracts.labels import OutputLabel, software_version

if TYPE_CHECKING:
    from PIL import Image

# The output file's suffix -> the service's output format name (app.images.OUTPUT_FORMATS).
FORMATS_BY_SUFFIX = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache
def builtin_credits() -> dict[str, StyleCredit]:
    """The built-in paintings' credits by their files' sha256 (the service's data file)."""
    from app.builtin_styles import builtin_styles

    return {
        file_sha256(style.path): StyleCredit(
            name=style.name,
            origin=BUILTIN,
            title=style.title,
            artist=style.artist,
            source_url=style.source_url,
            licence=style.licence,
        )
        for style in builtin_styles()
        if style.path.is_file()
    }


def style_file_credit(path: Path) -> StyleCredit:
    """A built-in painting's credit when the file is one, else the file's name alone."""
    known = builtin_credits().get(file_sha256(path))
    return known if known is not None else StyleCredit(name=path.name, origin=UPLOADER)


def model_name(path: Path) -> str:
    """The name the service registers a model file under: its metadata's, else the file's stem."""
    from contracts.modelfile import ModelFileError, read_file_metadata

    try:
        name = read_file_metadata(path).get("name")
    except ModelFileError:
        name = None
    return str(name or path.stem)


def cli_label(
    method: str, model: Path | None, styles: list[Path], medium: str = "photo"
) -> OutputLabel:
    """The label of a result made by `method` with the model file (None: the optimisation
    method, which has none) in the given style files; `medium` "video" for a clip's MP4."""
    return OutputLabel(
        version=software_version(),
        method=method,
        model_name=model_name(model) if model is not None else None,
        model_sha256=file_sha256(model) if model is not None else None,
        credits=tuple(style_file_credit(s) for s in styles),
        medium=medium,
    )


def labelled_bytes(image: Image.Image, out: Path, label: OutputLabel) -> bytes:
    """The image encoded for `out`'s suffix with the label's XMP packet, and nothing else."""
    from app.images import encode
    from contracts.labels import xmp_packet

    data, _ = encode(image, FORMATS_BY_SUFFIX[out.suffix.lower()], xmp_packet(label))
    return data
