"""Image sets without torch: thumbnails, perceptual hashes, zip archives and the data checks.

The checks run in the API (Pillow + numpy), so an admin sees problems when uploading, before a
training job is queued:
- too few images: refused (`too_few_images`), a set needs MIN_SET_IMAGES;
- an image smaller than the training crop: reported (`small_image`), it will be upscaled;
- exact duplicates (same pixels after normalisation): reported (`exact_duplicate`), kept once;
- near duplicates (64-bit DCT perceptual hash within NEAR_DUPLICATE_BITS): reported
  (`near_duplicate`), both kept (a resized or re-encoded copy weighs its painting twice).
"""

import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from app.errors import InvalidInput, TooLarge
from app.images import CleanImage
from contracts.images import has_image_suffix

MIN_SET_IMAGES = 3
MAX_SET_IMAGES = 200
NEAR_DUPLICATE_BITS = 6  # of 64: resized/re-encoded copies land within 0-4 here
THUMBNAIL_SIDE = 256


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m


_DCT32 = _dct_matrix(32)


def perceptual_hash(image: Image.Image) -> str:
    """pHash: 32x32 greyscale, 2-D DCT, the 8x8 lowest frequencies (DC excluded from the median)
    against their median -> 64 bits, as hex."""
    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), np.float64)
    low = (_DCT32 @ grey @ _DCT32.T)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def thumbnail_png(image: Image.Image, side: int = THUMBNAIL_SIDE) -> tuple[bytes, int, int]:
    thumb = image.copy()
    thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="PNG")
    return out.getvalue(), thumb.width, thumb.height


def set_digest(image_keys: list[str]) -> str:
    """Identifies a set's content: the sorted SHA-256 of its images."""
    return hashlib.sha256("\n".join(sorted(image_keys)).encode()).hexdigest()


@dataclass(frozen=True)
class SetImage:
    """A validated upload for a set, ready to store: the image, its hash and thumbnail."""

    filename: str
    clean: CleanImage
    phash: str
    thumb: tuple[bytes, int, int]  # PNG, width, height

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.clean.data).hexdigest()


@dataclass
class Member:
    """One image as the checks see it."""

    ref: str  # member id (stored) or upload name
    filename: str
    sha256: str
    width: int
    height: int
    phash: str


def data_checks(members: list[Member], *, crop: int) -> list[dict[str, Any]]:
    """Findings for the admin (each `{code, message, images}`); refusal is the caller's call."""
    findings: list[dict[str, Any]] = []
    for m in members:
        if min(m.width, m.height) < crop:
            findings.append(
                {
                    "code": "small_image",
                    "message": f"{m.filename} is {m.width}x{m.height}, smaller than the "
                    f"{crop}px training crop (it will be upscaled)",
                    "images": [m.ref],
                }
            )
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            distance = hamming(a.phash, b.phash)
            if a.sha256 != b.sha256 and distance <= NEAR_DUPLICATE_BITS:
                findings.append(
                    {
                        "code": "near_duplicate",
                        "message": f"{a.filename} and {b.filename} look alike "
                        f"(perceptual hash distance {distance} of 64)",
                        "images": [a.ref, b.ref],
                        "distance": distance,
                    }
                )
    return findings


def exact_duplicate_finding(kept: str, dropped: str) -> dict[str, Any]:
    return {
        "code": "exact_duplicate",
        "message": f"{dropped} is the same image as {kept}; it was stored once",
        "images": [kept, dropped],
    }


def read_zip(data: bytes | bytearray, *, max_file_bytes: int) -> list[tuple[str, bytes]]:
    """Image entries of a zip archive (by name; folders and other files are skipped).

    Guards against zip bombs: entry count, each entry's declared and actual size.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    except zipfile.BadZipFile as exc:
        raise InvalidInput("corrupt_archive", "'archive' is not a valid zip file") from exc
    entries = [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and has_image_suffix(info.filename)
        and not info.filename.split("/")[-1].startswith(".")
        and "__MACOSX" not in info.filename
    ]
    if len(entries) > MAX_SET_IMAGES:
        raise TooLarge("too_many_images", f"the archive has more than {MAX_SET_IMAGES} images")
    out = []
    for info in entries:
        if info.file_size > max_file_bytes:
            raise TooLarge(
                "file_too_large", f"{info.filename} exceeds {max_file_bytes} bytes unpacked"
            )
        try:
            with archive.open(info) as f:
                content = f.read(max_file_bytes + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise InvalidInput("corrupt_archive", f"{info.filename}: {exc}") from exc
        if len(content) > max_file_bytes:
            raise TooLarge("file_too_large", f"{info.filename} exceeds {max_file_bytes} bytes")
        out.append((info.filename.split("/")[-1][:255], content))
    return out
