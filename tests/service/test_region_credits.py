"""A result painted in several styles through `regions` credits every style it used (issue 21,
items 3 and 4): the job records the main style's credit then each region style's, every style
once, and through a real API, worker and database the result's XMP label carries them all."""

import io
import json

import pytest
from label_helpers import CREDIT
from PIL import Image
from service_helpers import gradient_png

from contracts.credits import UPLOADER
from contracts.labels import read_xmp

SKY = {"title": "Evening Sky", "artist": "Ana Nube", "licence": "CC BY-SA 4.0"}


def _style(client, name: str, credit: dict[str, str], seed: int) -> str:
    response = client.post(
        "/v1/styles",
        files={"image": (f"{name}.png", gradient_png((40, 40), seed), "image/png")},
        data={"name": name, **credit},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_each_region_style_is_recorded_once_after_the_main_style(api) -> None:
    api.client.headers.update(api.headers())
    main = _style(api.client, "main", CREDIT, 5)
    sky = _style(api.client, "sky", SKY, 6)
    regions = [
        {"box": [0, 0, 1, 0.5], "style_id": sky},
        {"box": [0, 0.5, 0.5, 1], "style_id": main},  # the main style again: no second credit
        {"box": [0.5, 0.5, 1, 1], "style_id": sky},  # the sky's again: no second credit
        {"box": [0.9, 0.9, 1, 1], "keep": True},
    ]
    response = api.client.post(
        "/v1/stylizations",
        files={"content": ("photo.png", gradient_png((40, 30), 2), "image/png")},
        data={"method": "optimisation", "style_id": main, "regions": json.dumps(regions)},
    )
    assert response.status_code == 202, response.text
    credits = response.json()["parameters"]["style_credits"]
    assert [(c["name"], c["title"], c["artist"], c["licence"]) for c in credits] == [
        ("main", CREDIT["title"], CREDIT["artist"], CREDIT["licence"]),
        ("sky", SKY["title"], SKY["artist"], SKY["licence"]),
    ]


@pytest.mark.e2e
def test_the_result_label_credits_the_main_and_the_region_styles(running_stack) -> None:
    with running_stack.client() as client:
        sky = _style(client, "sky", SKY, 6)
        response = client.post(
            "/v1/stylizations",
            files={
                "content": ("photo.png", gradient_png((48, 32), 2), "image/png"),
                "style": ("my-painting.png", gradient_png((40, 40), 7), "image/png"),
            },
            data={
                "method": "optimisation",
                "output_format": "jpeg",
                "regions": json.dumps([{"box": [0, 0, 1, 0.5], "style_id": sky}]),
            },
        )
        assert response.status_code == 202, response.text
        done = running_stack.wait_job(
            client, response.json()["id"], lambda j: j["status"] in ("succeeded", "failed"), 180
        )
        assert done["status"] == "succeeded", done
        result = Image.open(io.BytesIO(client.get(done["result_url"]).content))

    label = read_xmp(result.info["xmp"])
    uploaded, region = label.credits
    assert (uploaded.name, uploaded.origin, uploaded.title) == ("my-painting.png", UPLOADER, None)
    assert (region.name, region.title, region.artist, region.licence) == (
        "sky",
        SKY["title"],
        SKY["artist"],
        SKY["licence"],
    )
    assert "Evening Sky" in label.description() and "my-painting.png" in label.description()
