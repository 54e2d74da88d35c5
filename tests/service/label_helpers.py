"""What the label and provenance tests share: a style uploaded with a declared credit, a phone's
JPEG (GPS position, camera, turned on its side), the tiny built-in model registered on a stack;
a tiny clip with sound stylized into an MP4 and its poster, and the MP4's top-level boxes read
as a reader does. (Imported by name: pytest puts this folder on sys.path for the test modules in
it.)"""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path
from typing import Any

import av
from PIL import Image
from service_helpers import gradient_png

from app import crud
from app.db import make_engine, make_sessionmaker
from app.storage import storage_for

CREDIT = {
    "title": "Sunflowers over Arles",
    "artist": "Jeanne Example",
    "source_url": "https://example.org/paintings/sunflowers?id=7&size=large",
    "licence": "CC BY 4.0",
}


def credited_style(client: Any, name: str = "sunflowers.png") -> dict[str, Any]:
    response = client.post(
        "/v1/styles",
        files={"image": (name, gradient_png((40, 40), 5), "image/png")},
        data=CREDIT,
    )
    assert response.status_code == 201, response.text
    return response.json()


def register_model(stack: Any, path: Path) -> str:
    """The tiny built-in model registered (and, on a fresh database, active); its sha256."""
    engine = make_engine(stack.settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            crud.register_builtin_model(session, storage=storage_for(stack.settings), path=path)
            model = crud.get_active_model(session)
            assert model is not None
            return model.sha256
    finally:
        engine.dispose()


def phone_photo() -> bytes:
    """A JPEG as a phone writes it: a GPS position, a camera, and stored turned on its side
    (orientation 6: the upright photo is 60 x 80)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo
    out = io.BytesIO()
    photo = Image.open(io.BytesIO(gradient_png((80, 60), 4)))
    photo.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


FORMATS = ("png", "jpeg", "webp")


def results_in_every_format(stack: Any, client: Any, style_id: str) -> dict[str, tuple[Any, bytes]]:
    """The phone photo stylized in `style_id` once per output format: per format, the finished
    job and the result's bytes (each job asserted to have succeeded)."""
    jobs = {}
    for output_format in FORMATS:
        response = client.post(
            "/v1/stylizations",
            files={"content": ("phone.jpg", phone_photo(), "image/jpeg")},
            data={"style_id": style_id, "output_format": output_format},
        )
        assert response.status_code == 202, response.text
        jobs[output_format] = response.json()["id"]
    results = {}
    for output_format, job_id in jobs.items():
        done = stack.wait_job(
            client, job_id, lambda j: j["status"] in ("succeeded", "failed"), timeout=180
        )
        assert done["status"] == "succeeded", done
        results[output_format] = (done, client.get(done["result_url"]).content)
    return results


# A video job's input: 64 x 48, 8 frames at 24 fps, with a 440 Hz tone (AAC).
CLIP_SIZE, CLIP_FRAMES = (64, 48), 8
# XMP's box type (Adobe XMP specification part 3), written out rather than imported from the
# writer (contracts.mp4_xmp), so the test reads the file as an outside reader does.
XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")


def clip_with_sound() -> bytes:
    # Imported here: tests.models' clip helpers bring torch in, which most label tests never need.
    from tests.models.video_clips import pan_frames, write_clip

    with tempfile.TemporaryDirectory() as folder:
        frames = pan_frames(*CLIP_SIZE, CLIP_FRAMES)
        return write_clip(Path(folder) / "clip.mp4", frames, audio=True).read_bytes()


def video_result(stack: Any, client: Any, style_id: str) -> tuple[Any, bytes, bytes]:
    """`clip_with_sound` stylized in `style_id`: the finished job (asserted to have succeeded),
    the MP4's bytes and the poster's."""
    response = client.post(
        "/v1/videos",
        files={"video": ("clip.mp4", clip_with_sound(), "video/mp4")},
        data={"style_id": style_id},
    )
    assert response.status_code == 202, response.text
    done = stack.wait_job(
        client, response.json()["id"], lambda j: j["status"] in ("succeeded", "failed"), 180
    )
    assert done["status"] == "succeeded", done
    return done, client.get(done["result_url"]).content, client.get(done["poster_url"]).content


def mp4_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of each top-level box of an MP4; they must tile the file exactly."""
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        assert size >= 8 and offset + size <= len(data), (kind, offset, size)
        boxes.append((kind, offset, size))
        offset += size
    return boxes


def mp4_xmp(data: bytes) -> tuple[bytes, int, int]:
    """The one top-level `uuid` box of XMP's type: its packet, the box's offset and size."""
    found = [
        (data[offset + 24 : offset + size], offset, size)
        for kind, offset, size in mp4_boxes(data)
        if kind == b"uuid" and data[offset + 8 : offset + 24] == XMP_UUID
    ]
    assert len(found) == 1, mp4_boxes(data)
    return found[0]


def decoded(data: bytes) -> tuple[list[bytes], int]:
    """Every video frame of an MP4 (RGB bytes) and how many audio samples per channel it has."""
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24").tobytes() for f in container.decode(video=0)]
    with av.open(io.BytesIO(data)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
    return frames, samples
