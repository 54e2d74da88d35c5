"""`atelier stylize` labels its output as the service labels its results (issue 21, item 4): the
XMP packet read back from a JPEG and a PNG the command wrote says the picture is a composite made
with a trained model, by which software, version and model (name and sha256), in whose styles (a
copy of a built-in painting credited with its title, artist and licence; any other file by its
name); and a phone photo's EXIF (GPS position, camera) is not carried into it."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from app.builtin_styles import builtin_styles
from cli.main import app
from contracts.credits import BUILTIN, UPLOADER
from contracts.labels import DIGITAL_SOURCE_TYPE, read_xmp
from tests.models.conftest import synthetic_image


def _phone_photo(path: Path) -> None:
    """A JPEG as a phone writes it: a GPS position, a camera, stored turned on its side
    (orientation 6: the upright photo is 40 x 56)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo
    synthetic_image(56, 40, seed=4).save(path, format="JPEG", quality=90, exif=exif.tobytes())


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_the_output_carries_the_label_and_not_the_photos_exif(
    suffix: str, tiny_model: Path, tmp_path: Path
) -> None:
    wave = next(s for s in builtin_styles() if s.file == "great-wave.jpg")
    copied = tmp_path / "my-wave.jpg"  # a built-in painting is known by its bytes, not its path
    shutil.copyfile(wave.path, copied)
    own = tmp_path / "own-painting.png"
    synthetic_image(40, 40, seed=2).save(own)
    photo, out = tmp_path / "phone.jpg", tmp_path / f"out{suffix}"
    _phone_photo(photo)
    assert Image.open(photo).getexif().get(0x8825)  # the input has a GPS position

    result = CliRunner().invoke(
        app,
        [
            "stylize", str(photo),
            "--style", str(copied),
            "--style", str(own),
            "--model", str(tiny_model),
            "--device", "cpu",
            "--backend", "torch",
            "-o", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr

    image = Image.open(io.BytesIO(out.read_bytes()))
    assert image.format == {".jpg": "JPEG", ".png": "PNG"}[suffix]
    assert image.size == (40, 56)  # the photo's orientation applied, then dropped with its EXIF
    assert not image.getexif()  # no GPS, no camera, no orientation
    label = read_xmp(image.info["xmp"])
    assert label.source_type == DIGITAL_SOURCE_TYPE
    assert label.version == importlib.metadata.version("atelier")
    assert label.method == "gan" and label.model_name == "m"  # the tiny model's file stem
    assert label.model_sha256 == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    builtin, named = label.credits
    assert (builtin.origin, builtin.title, builtin.artist, builtin.licence) == (
        BUILTIN,
        wave.title,
        wave.artist,
        wave.licence,
    )
    assert (named.origin, named.name, named.title, named.licence) == (
        UPLOADER,
        "own-painting.png",
        None,
        None,
    )
