"""Regions with a style each (issue 21, item 3): `regions` checked at the door (a code for each
refusal, nothing written); end to end, each half takes its own style and a kept box is the
photo's pixels."""

import io
import json

import pytest
from PIL import Image
from service_helpers import finished_result, gradient_png, max_diff

from contracts.regions import MAX_REGIONS

HALF = {"box": [0, 0, 0.5, 1], "keep": True}

# (fields, masks, code)
BAD_REGIONS = [
    ({"regions": "not json"}, 0, "invalid_regions"),
    ({"regions": "[]"}, 0, "invalid_regions"),
    ({"regions": json.dumps([{"box": [0, 0, 1, 1]}])}, 0, "invalid_regions"),
    (
        {"regions": json.dumps([{"box": [0, 0, 1, 1], "mask": 0, "keep": True}])},
        1,
        "invalid_regions",
    ),
    (
        {"regions": json.dumps([{"box": [0, 0, 1, 1], "style_id": "x", "keep": True}])},
        0,
        "invalid_regions",
    ),
    ({"regions": json.dumps([HALF] * (MAX_REGIONS + 1))}, 0, "too_many_regions"),
    ({"regions": json.dumps([{"mask": 0, "keep": True}])}, 0, "region_mask_missing"),
    ({"regions": json.dumps([{"mask": 1, "keep": True}])}, 1, "region_mask_missing"),
    ({"regions": json.dumps([{"box": [0, 0, 2, 1], "keep": True}])}, 0, "box_outside"),
    ({"regions": json.dumps([{"box": [0, 0, 1, 1], "style_id": "nope"}])}, 0, "style_not_found"),
]


@pytest.mark.parametrize(("fields", "masks", "code"), BAD_REGIONS)
def test_bad_regions_are_refused_with_a_code_and_nothing_is_written(
    api, make_png, fields, masks, code
) -> None:
    before = api.state()
    mask = ("masks", ("m.png", make_png((8, 8), mode="L", color=255), "image/png"))
    response = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        data={"method": "optimisation", **fields},
        files=[
            ("content", ("photo.png", gradient_png((40, 30), seed=1), "image/png")),
            ("style", ("style.png", make_png((20, 20)), "image/png")),
            *[mask] * masks,
        ],
    )
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["code"] == code, response.text
    assert api.state() == before


def _result(stack, client, photo: bytes, files=(), **fields) -> Image.Image:
    response = client.post(
        "/v1/stylizations",
        files=[("content", ("photo.png", photo, "image/png")), *files],
        data={"method": "optimisation", "seed": "7", **fields},
    )
    return finished_result(stack, client, response)[1]


@pytest.mark.e2e
def test_two_styles_in_two_halves_and_a_kept_box(running_stack, make_png) -> None:
    photo = gradient_png((96, 64), seed=2)
    with running_stack.client() as client:
        ids = []
        for name, color in (("Yellow", (250, 230, 20)), ("Blue", (20, 40, 220))):
            saved = client.post(
                "/v1/styles",
                files={"image": ("s.png", make_png((48, 48), color=color), "image/png")},
                data={"name": name},
            )
            assert saved.status_code == 201, saved.text
            ids.append(saved.json()["id"])
        yellow, blue = (_result(running_stack, client, photo, style_id=i) for i in ids)
        regions = [
            {"box": [0.5, 0, 1, 1], "style_id": ids[1]},
            {"box": [0, 0, 0.25, 0.5], "keep": True},  # later: wins over the main style
        ]
        both = _result(
            running_stack, client, photo, style_id=ids[0], regions=json.dumps(regions), feather="4"
        )
        # A mask (another size than the photo: scaled) for the right half works the same.
        mask = Image.new("L", (24, 16), 0)
        mask.paste(255, (12, 0, 24, 16))
        out = io.BytesIO()
        mask.save(out, format="PNG")
        masked = _result(
            running_stack,
            client,
            photo,
            files=[("masks", ("m.png", out.getvalue(), "image/png"))],
            style_id=ids[0],
            regions=json.dumps([{"mask": 0, "style_id": ids[1]}]),
            feather="4",
        )
    original = Image.open(io.BytesIO(photo)).convert("RGB")
    left, right, kept = (30, 0, 44, 64), (52, 0, 96, 64), (0, 0, 20, 28)  # 4 px from each edge
    assert max_diff(yellow, blue) > 30  # the two styles differ
    assert max_diff(both.crop(left), yellow.crop(left)) <= 3
    assert max_diff(both.crop(right), blue.crop(right)) <= 3
    assert max_diff(both.crop(kept), original.crop(kept)) <= 2
    assert max_diff(masked.crop(right), blue.crop(right)) <= 3
    assert max_diff(masked.crop((0, 0, 44, 64)), yellow.crop((0, 0, 44, 64))) <= 3
