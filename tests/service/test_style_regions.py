"""Regions with a style each (issue 21, item 3): `regions` checked at the door (a code for each
refusal, nothing written); end to end, with two built-in styles, each half takes its own style
and a kept box is the photo's pixels."""

import io
import json

import pytest
from PIL import Image
from service_helpers import finished_result, gradient_png, max_diff

from app import crud
from app.db import make_engine, make_sessionmaker
from app.storage import storage_for
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


def _builtin_styles(stack, client, *files: str) -> list[str]:
    """The ids of built-in styles, by file name, registered on the stack's database as an API
    registers them at its start (the test stacks start without them)."""
    engine = make_engine(stack.settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            crud.register_builtin_styles(session, storage=storage_for(stack.settings), enabled=True)
    finally:
        engine.dispose()
    listed = client.get("/v1/styles").json()["data"]
    by_file = {s["info"]["file"]: s["id"] for s in listed if s["builtin"]}
    return [by_file[f] for f in files]


@pytest.mark.e2e
def test_two_styles_in_two_halves_and_a_kept_box(running_stack) -> None:
    photo = gradient_png((96, 64), seed=2)
    with running_stack.client() as client:
        ids = _builtin_styles(running_stack, client, "starry-night.jpg", "great-wave.jpg")
        starry, wave = (_result(running_stack, client, photo, style_id=i) for i in ids)
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
    assert max_diff(starry, wave) > 30  # the two styles differ
    assert max_diff(both.crop(left), starry.crop(left)) <= 3
    assert max_diff(both.crop(right), wave.crop(right)) <= 3
    assert max_diff(both.crop(kept), original.crop(kept)) <= 2
    assert max_diff(masked.crop(right), wave.crop(right)) <= 3
    assert max_diff(masked.crop((0, 0, 44, 64)), starry.crop((0, 0, 44, 64))) <= 3
