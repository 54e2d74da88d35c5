"""What the label and provenance tests share: a style uploaded with a declared credit, a phone's
JPEG (GPS position, camera, turned on its side), the tiny built-in model registered on a stack.
(Imported by name: pytest puts this folder on sys.path for the test modules in it.)"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

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
