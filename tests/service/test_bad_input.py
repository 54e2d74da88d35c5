"""The bad-input matrix: each rejected upload gets a 4xx with a stable code, and storage and the
database are exactly as before. Accepted oddities (CMYK, 16-bit, alpha, EXIF rotation, missing
content type) are normalised, which the stored style image shows."""

import io
import select
import socket
import struct
import zlib

import pytest
from PIL import Image


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _rgb(size=(32, 24), color=(200, 30, 60)) -> Image.Image:
    return Image.new("RGB", size, color)


def _animated_gif() -> bytes:
    frames = [_rgb((16, 16), (255, 0, 0)), _rgb((16, 16), (0, 0, 255))]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def _animated_png() -> bytes:
    frames = [_rgb((16, 16), (255, 0, 0)), _rgb((16, 16), (0, 0, 255))]
    return _encode(frames[0], "PNG", save_all=True, append_images=frames[1:])


PNG = _encode(_rgb(), "PNG")

# (label, file bytes, declared content type, expected status, expected code)
REJECTED_FILES = [
    (
        "not an image",
        b"hello, this is text and not a picture\n" * 4,
        "image/png",
        415,
        "unsupported_format",
    ),
    ("declared text/plain, text bytes", b"plain text", "text/plain", 415, "unsupported_format"),
    (
        "unsupported image format (BMP)",
        _encode(_rgb(), "BMP"),
        "image/bmp",
        415,
        "unsupported_format",
    ),
    ("truncated PNG", PNG[: len(PNG) // 2], "image/png", 422, "corrupt_image"),
    ("truncated JPEG", _encode(_rgb((64, 64)), "JPEG")[:300], "image/jpeg", 422, "corrupt_image"),
    (
        "PNG with a corrupt body",
        PNG[:40] + b"\x00" * 40 + PNG[80:],
        "image/png",
        422,
        "corrupt_image",
    ),
    ("empty file", b"", "image/png", 422, "empty_file"),
    ("animated GIF", _animated_gif(), "image/gif", 422, "animated_image"),
    ("animated PNG", _animated_png(), "image/png", 422, "animated_image"),
    # 1100 x 1000 pixels, a few kB on disk: over the test limit of 1,000,000 pixels.
    (
        "more pixels than the limit",
        _encode(Image.new("L", (1100, 1000)), "PNG"),
        "image/png",
        413,
        "too_many_pixels",
    ),
    (
        "a side longer than the limit",
        _encode(Image.new("L", (4000, 10)), "PNG"),
        "image/png",
        413,
        "image_too_large",
    ),
]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [case[1:] for case in REJECTED_FILES],
    ids=[case[0] for case in REJECTED_FILES],
)
@pytest.mark.parametrize("field", ["content", "style"])
def test_rejected_image_leaves_storage_and_database_unchanged(
    api, field, data, content_type, status, code
):
    before = api.state()
    files = {"content": ("c.png", PNG, "image/png"), "style": ("s.png", PNG, "image/png")}
    files[field] = ("upload.png", data, content_type)
    response = api.client.post("/v1/stylizations", headers=api.headers(), files=files)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert api.state() == before


def test_upload_over_the_byte_limit_is_refused_while_streaming(api, live_server):
    """A chunked 50 MiB upload to a real uvicorn: the 413 arrives after about the limit."""
    limit = api.settings.max_upload_bytes  # 256 KiB in tests
    chunk = b"\x89PNG\r\n\x1a\n" + b"\x00" * (16 * 1024 - 8)
    host, port = live_server(api.client.app)
    before = api.state()
    sent = 0
    with socket.create_connection((host, port)) as sock:
        head = (
            f"POST /v1/stylizations HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {api.user_key}\r\n"
            "Content-Type: multipart/form-data; boundary=b0undary\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        part = (
            b"--b0undary\r\n"
            b'Content-Disposition: form-data; name="content"; filename="x.png"\r\n\r\n'
        )
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        reply = b""
        for _ in range(50 * 64):  # up to 50 MiB
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server closed the connection after answering
                break
            sent += len(chunk)
            if select.select([sock], [], [], 0.02)[0]:
                break
        sock.settimeout(5)
        while b'"code"' not in reply:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"code":"file_too_large"' in reply
    assert sent < 4 * limit  # refused near the limit, not after reading 50 MiB
    assert api.state() == before


def test_declared_length_over_the_limit_is_refused_before_reading(api):
    before = api.state()
    response = api.client.post(
        "/v1/stylizations",
        headers={
            **api.headers(),
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(10**9),
        },
        content=b"--x--\r\n",
    )
    assert response.status_code == 413
    assert api.state() == before


def test_decompression_bomb_is_refused_by_pillows_guard(api_with):
    """With our own pixel limit lifted, Pillow's guard (a warning made an error) still holds."""
    bomb = _encode(Image.new("1", (10_000, 9_000)), "PNG")  # 90 Mpixel in ~11 kB
    with api_with(max_pixels=10**10, max_upload_side=50_000) as api:
        before = api.state()
        response = api.client.post(
            "/v1/stylizations",
            headers=api.headers(),
            files={"content": ("c.png", bomb, "image/png"), "style": ("s.png", PNG, "image/png")},
        )
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "too_many_pixels"
        assert api.state() == before


BAD_REQUESTS = [
    ("JSON body instead of multipart", {"json": {"content": "x"}}, 415, "unsupported_media_type"),
    ("no body, no content type", {}, 415, "unsupported_media_type"),
    ("no content file", {"files": {"style": ("s.png", PNG, "image/png")}}, 422, "missing_field"),
    ("no style", {"files": {"content": ("c.png", PNG, "image/png")}}, 422, "style_required"),
    (
        "style file and style_id",
        {"files": {"content": ("c.png", PNG), "style": ("s.png", PNG)}, "data": {"style_id": "x"}},
        422,
        "style_required",
    ),
    (
        "unknown style_id",
        {"files": {"content": ("c.png", PNG)}, "data": {"style_id": "nope"}},
        404,
        "style_not_found",
    ),
    (
        "unknown model_id",
        {
            "files": {"content": ("c.png", PNG), "style": ("s.png", PNG)},
            "data": {"model_id": "nope"},
        },
        404,
        "model_not_found",
    ),
    (
        "strength out of range",
        {"files": {"content": ("c.png", PNG), "style": ("s.png", PNG)}, "data": {"strength": "2"}},
        422,
        "invalid_parameter",
    ),
    (
        "unknown output format",
        {
            "files": {"content": ("c.png", PNG), "style": ("s.png", PNG)},
            "data": {"output_format": "gif"},
        },
        422,
        "invalid_parameter",
    ),
    (
        "tile_size above the upload limit",
        {
            "files": {"content": ("c.png", PNG), "style": ("s.png", PNG)},
            "data": {"tile_size": "99999"},
        },
        422,
        "invalid_parameter",
    ),
    (
        "working_size below the floor shared with atelier stylize",
        {
            "files": {"content": ("c.png", PNG), "style": ("s.png", PNG)},
            "data": {"working_size": "16"},
        },
        422,
        "invalid_parameter",
    ),
    (
        "the old max_side with one of the sizes it stands for",
        {
            "files": {"content": ("c.png", PNG), "style": ("s.png", PNG)},
            "data": {"max_side": "512", "tile_size": "512"},
        },
        422,
        "invalid_parameter",
    ),
    (
        "max_side (the old name) above the limit",
        {
            "files": {"content": ("c.png", PNG), "style": ("s.png", PNG)},
            "data": {"max_side": "99999"},
        },
        422,
        "invalid_parameter",
    ),
    (
        "unknown field",
        {"files": {"content": ("c.png", PNG), "style": ("s.png", PNG)}, "data": {"colour": "red"}},
        422,
        "invalid_parameter",
    ),
    (
        "webhook URL that is not http(s)",
        {
            "files": {"content": ("c.png", PNG), "style": ("s.png", PNG)},
            "data": {"webhook_url": "file:///etc/passwd"},
        },
        422,
        "invalid_parameter",
    ),
    (
        "webhook to a loopback address",
        {
            "files": {"content": ("c.png", PNG), "style": ("s.png", PNG)},
            "data": {"webhook_url": "http://127.0.0.1:9/hook"},
        },
        422,
        "webhook_url_not_allowed",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_request_leaves_storage_and_database_unchanged(api, kwargs, status, code):
    before = api.state()
    response = api.client.post("/v1/stylizations", headers=api.headers(), **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert api.state() == before


def _stored_style(api, data: bytes, content_type: str | None) -> Image.Image:
    part = ("upload", data, content_type) if content_type else ("upload", data)
    response = api.client.post("/v1/styles", headers=api.headers(), files={"image": part})
    assert response.status_code == 201, response.text
    image_url = response.json()["image_url"]
    return Image.open(io.BytesIO(api.client.get(image_url, headers=api.headers()).content))


def _png_16bit_grey() -> bytes:
    """A 16-bit greyscale PNG written by hand (value 0x8000 everywhere)."""
    width, height = 8, 4
    raw = b"".join(b"\x00" + b"\x80\x00" * width for _ in range(height))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_cmyk_jpeg_is_converted_to_rgb(api):
    stored = _stored_style(
        api, _encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"), "image/jpeg"
    )
    assert stored.mode == "RGB"
    r, g, b = stored.getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60  # CMYK (0, 100%, 100%, 0) is red


def test_16bit_png_is_scaled_to_8bit_rgb(api):
    stored = _stored_style(api, _png_16bit_grey(), "image/png")
    assert stored.mode == "RGB" and stored.size == (8, 4)
    assert stored.getpixel((0, 0)) == (128, 128, 128)


def test_alpha_is_composited_over_white(api):
    transparent = _encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG")
    stored = _stored_style(api, transparent, "image/png")
    assert stored.mode == "RGB" and stored.getpixel((4, 4)) == (255, 255, 255)


def test_exif_orientation_is_applied(api):
    image = _rgb((40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    stored = _stored_style(api, _encode(image, "JPEG", exif=exif.tobytes()), "image/jpeg")
    assert stored.size == (20, 40)


def test_missing_or_wrong_content_type_on_a_real_image_is_accepted(api):
    """The bytes decide the format: a real PNG with no or a wrong declared type is accepted."""
    assert _stored_style(api, PNG, None).size == (32, 24)
    assert _stored_style(api, _encode(_rgb((5, 7)), "JPEG"), "image/png").size == (5, 7)


def test_an_upright_jpeg_is_kept_as_sent_less_its_metadata(api):
    """No re-encode: the stored file is the upload's scan byte for byte, with no EXIF (GPS
    position included), XMP or comment left in it."""
    exif = Image.Exif()
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPSInfo: GPSLatitude
    exif[0x010F] = "PhoneMaker"
    photo = _rgb((48, 32))
    sent = _encode(photo, "JPEG", exif=exif.tobytes(), quality=90, comment=b"secret note")
    part = ("upload", sent, "image/jpeg")
    response = api.client.post("/v1/styles", headers=api.headers(), files={"image": part})
    assert response.status_code == 201, response.text
    stored = api.client.get(response.json()["image_url"], headers=api.headers())
    assert stored.headers["content-type"] == "image/jpeg"
    kept = stored.content
    assert b"Exif" not in kept and b"PhoneMaker" not in kept and b"secret note" not in kept
    scan = b"\xff\xda"  # start of scan: from there on, the image data
    assert len(kept) < len(sent) and kept[kept.index(scan) :] == sent[sent.index(scan) :]
    image = Image.open(io.BytesIO(kept))
    assert not image.getexif() and image.size == (48, 32)
    assert list(image.convert("RGB").getdata()) == list(Image.open(io.BytesIO(sent)).getdata())
