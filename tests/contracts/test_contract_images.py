"""One list of image suffixes: what a set upload accepts is what the trainer reads."""

import io
import zipfile

import pytest
from PIL import Image

from app.images import validate_image
from app.imagesets import read_zip
from contracts.images import IMAGE_SUFFIXES, check_name

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".gif": "GIF"}


def _encoded(suffix: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 32), (200, 40, 90)).save(out, format=FORMATS[suffix])
    return out.getvalue()


def test_every_suffix_passes_the_upload_and_is_read_by_the_trainer(tmp_path):
    pytest.importorskip("torch")
    from models.images import list_images, load_image

    assert set(FORMATS) == set(IMAGE_SUFFIXES)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for i, suffix in enumerate(IMAGE_SUFFIXES):
            data = _encoded(suffix)
            zf.writestr(f"painting{i}{suffix.upper()}", data)
            (tmp_path / f"painting{i}{suffix}").write_bytes(data)
        zf.writestr("notes.txt", b"not an image")
    (tmp_path / "notes.txt").write_bytes(b"not an image")

    uploaded = read_zip(archive.getvalue(), max_file_bytes=1 << 20)
    assert len(uploaded) == len(IMAGE_SUFFIXES)  # the text file is skipped, no image is
    for name, data in uploaded:
        assert validate_image(data, field=name, max_pixels=10**6, max_upload_side=64).width == 40
    listed = list_images(tmp_path)
    assert [p.suffix for p in listed] == [s for s in IMAGE_SUFFIXES]
    assert all(load_image(p).size == (40, 32) for p in listed)


@pytest.mark.parametrize(
    ("given", "kept"), [("a", "a"), ("  Monet  ", "Monet"), ("x" * 200, "x" * 200)]
)
def test_a_name_of_1_to_200_characters_is_kept_whole(given, kept):
    assert check_name(given) == kept


@pytest.mark.parametrize("given", ["", "   ", "x" * 201])
def test_an_empty_or_longer_name_is_refused_never_truncated(given):
    with pytest.raises(ValueError, match="1 to 200 characters"):
        check_name(given)
