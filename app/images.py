"""Upload validation: sniff the real format, decode with an allow-list, normalise to RGB.

Decisions (documented in the README):
- The client's declared content type is ignored; the bytes decide. Non-images get 415.
- Animated / multi-frame images are refused (422 `animated_image`) rather than silently
  using the first frame: a user who sends an animation would not expect a still result.
- CMYK, palette, 16-bit and alpha images are converted to 8-bit RGB (alpha over white);
  EXIF orientation is applied, so the stored image is upright and has no EXIF.
- What was sent is kept where that is safe: a plain RGB PNG as it is, an upright RGB JPEG with
  its metadata segments removed (app.jpeg_segments; no re-encode); everything else is stored as
  a PNG. Storing a JPEG as a PNG cost more than the model (several times the bytes, an encode
  in the API and a slower decode in the worker).
- Pixel limits are checked from the header before decoding, and Pillow's decompression-bomb
  warning is turned into an error, so a small file cannot expand to gigabytes in memory.
"""

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from app.errors import DomainError, InvalidInput, TooLarge, UnsupportedFormat
from app.jpeg_segments import NotAJpegError, strip_metadata

ALLOWED_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
# zlib level 1, not Pillow's 6: a 512 px stylized PNG encodes in about 16 ms instead of 78 ms
# for 16% more bytes (benchmarks/service_overhead.py, README "Where a job's time goes").
PNG_COMPRESS_LEVEL = 1
# PNG chunks that change no pixel and say nothing about the sender: such an RGB upload is
# stored as sent (an EXIF, ICC, text or transparency chunk means it is re-encoded without).
PLAIN_PNG_INFO = {"dpi", "gamma", "srgb", "aspect"}
ORIENTATION = 0x0112  # the EXIF tag; 1: upright
OUTPUT_FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}


def sniff(data: bytes) -> str | None:
    """The format named by the file's magic bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


@dataclass(frozen=True)
class CleanImage:
    data: bytes  # what gets stored: an RGB PNG, or an upright RGB JPEG without metadata
    content_type: str
    width: int
    height: int
    source_format: str


def validate_image(
    data: bytes | bytearray, *, field: str, max_pixels: int, max_upload_side: int
) -> CleanImage:
    """Decode an uploaded image fully, or raise the domain error that says why (stable code)."""
    if not data:
        raise InvalidInput("empty_file", f"'{field}' is empty")
    fmt = sniff(bytes(data[:16]))
    if fmt is None:
        raise UnsupportedFormat(
            "unsupported_format",
            f"'{field}' is not a PNG, JPEG, WebP or GIF image",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if width * height > max_pixels:
                raise TooLarge(
                    "too_many_pixels",
                    f"'{field}' has {width}x{height} pixels, more than the limit of {max_pixels}",
                )
            if max(width, height) > max_upload_side:
                raise TooLarge(
                    "image_too_large",
                    f"'{field}' is {width}x{height}, a side exceeds {max_upload_side}",
                )
            if getattr(image, "n_frames", 1) > 1:
                raise InvalidInput(
                    "animated_image", f"'{field}' has several frames; send a single image"
                )
            image.load()
        except DomainError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooLarge("too_many_pixels", f"'{field}': {exc}") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InvalidInput(
                "corrupt_image", f"'{field}' could not be decoded (truncated or corrupt)"
            ) from exc
        kept = kept_as_sent(bytes(data), image, fmt)
        if kept is not None:
            return kept
        upright: Image.Image = ImageOps.exif_transpose(image) or image
        rgb = to_rgb(upright)
    out = io.BytesIO()
    rgb.save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return CleanImage(out.getvalue(), "image/png", rgb.width, rgb.height, fmt)


def kept_as_sent(data: bytes, image: Image.Image, fmt: str) -> CleanImage | None:
    """The upload as it came, when it is already what we store: a plain RGB PNG (no metadata,
    nothing to turn), or an upright RGB JPEG less its metadata segments. None: re-encode it
    (which also covers a JPEG Pillow decodes but whose segments do not parse)."""
    width, height = image.size
    if fmt == "PNG" and image.mode == "RGB" and set(image.info) <= PLAIN_PNG_INFO:
        return CleanImage(data, "image/png", width, height, fmt)
    if fmt == "JPEG" and image.mode == "RGB" and image.getexif().get(ORIENTATION, 1) == 1:
        try:
            return CleanImage(strip_metadata(data), "image/jpeg", width, height, fmt)
        except NotAJpegError:
            return None
    return None


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping.
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def encode(image: Image.Image, output_format: str, xmp: bytes | None = None) -> tuple[bytes, str]:
    """The image in an output format, with an XMP packet when given (contracts.labels): a JPEG
    APP1 segment, a WebP XMP chunk, a PNG iTXt chunk `XML:com.adobe.xmp` (Pillow writes the
    first two itself). Nothing else is written: a new image carries no EXIF of its inputs."""
    fmt, content_type = OUTPUT_FORMATS[output_format]
    out = io.BytesIO()
    options: dict[str, Any]
    if fmt == "PNG":
        options = {"compress_level": PNG_COMPRESS_LEVEL}
        if xmp is not None:
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
            options["pnginfo"] = info
    else:
        options = {"quality": 92} if xmp is None else {"quality": 92, "xmp": xmp}
    image.save(out, format=fmt, **options)
    return out.getvalue(), content_type
