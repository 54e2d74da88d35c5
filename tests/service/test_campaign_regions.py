"""Styled regions in a campaign (issue 21, item 3: "campaigns accept it too"). A campaign's
`regions` are per photo, each entry overriding a stylization's fields of the same names for its
photo, so a photo's styled regions are its entry's `regions`, their masks the campaign's `masks`
files. Checked at the door as a single job's are (a code for each refusal, nothing stored); end
to end, a child keeps its kept box as the photo's pixels and its image and CREDITS.txt credit
every style it used."""

import io
import json
import time
import zipfile

import pytest
from PIL import Image
from service_helpers import gradient_png, max_diff

from contracts.labels import read_xmp
from contracts.regions import MAX_REGIONS

SKY = {"title": "Evening Sky", "artist": "Ana Nube", "licence": "CC BY-SA 4.0"}
KEEP_LEFT = {"box": [0, 0, 0.5, 1], "keep": True}


def _photos(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("photos", (f"shot {i}.png", gradient_png((96, 64), i), "image/png")) for i in range(n)]


def _mask() -> tuple[str, tuple[str, bytes, str]]:
    image, out = Image.new("L", (24, 16), 0), io.BytesIO()
    image.paste(255, (12, 0, 24, 16))  # the right half, at another size than the photos
    image.save(out, format="PNG")
    return ("masks", ("right.png", out.getvalue(), "image/png"))


_STYLE = [("styles", ("my-painting.png", gradient_png((40, 40), 7), "image/png"))]


def _sky(client) -> str:
    response = client.post(
        "/v1/styles",
        files={"image": ("sky.png", gradient_png((40, 40), 6), "image/png")},
        data={"name": "sky", **SKY},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_photos_styled_regions_reach_its_children_only(api) -> None:
    api.client.headers.update(api.headers())
    sky = _sky(api.client)
    regions = [{"regions": [{"mask": 0, "style_id": sky}, KEEP_LEFT]}, None]
    response = api.client.post(
        "/v1/campaigns",
        files=[*_photos(2), *_STYLE, _mask()],
        data={"method": "optimisation", "regions": json.dumps(regions)},
    )
    assert response.status_code == 202, response.text
    first, second = response.json()["children"]
    painted, kept = first["parameters"]["regions"]
    assert painted["style_id"] == sky and painted["style_sha256"]
    assert len(painted["mask_sha256"]) == 64 and kept == KEEP_LEFT
    assert [c["name"] for c in first["parameters"]["style_credits"]] == ["my-painting.png", "sky"]
    assert second["parameters"]["regions"] is None
    assert [c["name"] for c in second["parameters"]["style_credits"]] == ["my-painting.png"]


def _entry(*regions: object) -> str:
    return json.dumps([{"regions": list(regions)}])


# (fields, masks, status, code)
BAD = [
    ({"regions": json.dumps([{"regions": "sky"}])}, 0, 422, "invalid_regions"),
    ({"regions": _entry({"box": [0, 0, 1, 1]})}, 0, 422, "invalid_regions"),  # no style, no keep
    ({"regions": _entry(*[KEEP_LEFT] * (MAX_REGIONS + 1))}, 0, 422, "too_many_regions"),
    ({"regions": _entry({"mask": 0, "keep": True})}, 0, 422, "region_mask_missing"),
    ({"regions": _entry({"box": [0, 0, 2, 1], "keep": True})}, 0, 422, "box_outside"),
    ({"regions": _entry({"box": [0, 0, 1, 1], "style_id": "nope"})}, 0, 404, "style_not_found"),
    ({"regions": _entry(KEEP_LEFT)}, MAX_REGIONS + 1, 422, "too_many_regions"),  # masks files
    ({"regions": json.dumps([{"styles": []}])}, 0, 422, "invalid_parameter"),
]


@pytest.mark.parametrize(("fields", "masks", "status", "code"), BAD)
def test_bad_styled_regions_in_a_campaign_are_refused_and_store_nothing(
    api, fields, masks, status, code
) -> None:
    before = api.state()
    response = api.client.post(
        "/v1/campaigns",
        headers=api.headers(),
        files=[*_photos(1), *_STYLE, *[_mask()] * masks],
        data={"method": "optimisation", **fields},
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    assert api.state() == before


@pytest.mark.e2e
def test_a_campaign_child_keeps_its_box_and_credits_its_region_style(running_stack) -> None:
    with running_stack.client() as client:
        sky = _sky(client)
        regions = [{"regions": [{"mask": 0, "style_id": sky}, KEEP_LEFT]}]
        response = client.post(
            "/v1/campaigns",
            files=[*_photos(1), *_STYLE, _mask()],
            data={"method": "optimisation", "name": "Dusk", "regions": json.dumps(regions)},
        )
        assert response.status_code == 202, response.text
        deadline, campaign = time.monotonic() + 180, response.json()
        while not campaign["finished_at"] and time.monotonic() < deadline:
            time.sleep(0.2)
            campaign = client.get(f"/v1/campaigns/{campaign['id']}").json()
        assert campaign["status"] == "succeeded", (campaign, running_stack.all_logs())
        archive = zipfile.ZipFile(io.BytesIO(client.get(campaign["archive_url"]).content))

    (name,) = [n for n in archive.namelist() if n != "CREDITS.txt"]
    result = Image.open(io.BytesIO(archive.read(name)))
    photo = Image.open(io.BytesIO(gradient_png((96, 64), 0))).convert("RGB")
    left = (0, 0, 40, 64)  # the kept half, 8 px clear of the feathered seam
    assert max_diff(result.convert("RGB").crop(left), photo.crop(left)) <= 2
    assert max_diff(result.convert("RGB").crop((56, 0, 96, 64)), photo.crop((56, 0, 96, 64))) > 20
    credits = read_xmp(result.info["xmp"]).credits
    assert [(c.name, c.title) for c in credits] == [
        ("my-painting.png", None),
        ("sky", SKY["title"]),
    ]
    text = archive.read("CREDITS.txt").decode("utf-8")
    assert '"Evening Sky" by Ana Nube; licence: CC BY-SA 4.0' in text and "my-painting.png" in text
