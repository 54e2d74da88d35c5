"""Finer control of the style (issue 21) through the API: `color_strength`,
`texture_strength` and `stroke_scale` are checked at the door (422 with a code, nothing
written) and reach the worker."""

import io

import pytest
from PIL import Image
from service_helpers import finished_result, gradient_png, max_diff

from contracts.stylize import STROKE_SCALE_MAX, STROKE_SCALE_MIN

BAD_CONTROLS = [
    ({"stroke_scale": str(STROKE_SCALE_MIN / 2)}, "stroke_scale"),
    ({"stroke_scale": str(STROKE_SCALE_MAX * 2)}, "stroke_scale"),
    ({"stroke_scale": "big"}, "stroke_scale"),
    ({"color_strength": "1.5"}, "color_strength"),
    ({"texture_strength": "-0.1"}, "texture_strength"),
    ({"strength": "0.5", "color_strength": "1"}, "shorthands"),
    ({"preserve_color": "true", "texture_strength": "1"}, "shorthands"),
]


@pytest.mark.parametrize(("fields", "named"), BAD_CONTROLS)
def test_bad_controls_are_refused_with_a_code_and_nothing_is_written(
    api, make_png, fields, named
) -> None:
    before = api.state()
    response = api.submit(
        content=("photo.png", gradient_png((40, 30), seed=1), "image/png"),
        style=("style.png", make_png((20, 20)), "image/png"),
        **fields,
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and named in error["message"]
    assert api.state() == before


@pytest.mark.e2e
def test_the_controls_reach_the_worker(running_stack, make_png) -> None:
    """Colour 0 and texture 0 give the photo back; the job records what it was asked."""
    # A smooth photo: the optimisation method's resize to its working size and back changes
    # no pixel of it by more than a level or two.
    photo_png = gradient_png((96, 64), seed=0)
    files = {
        "content": ("photo.png", photo_png, "image/png"),
        "style": ("style.png", make_png((48, 48), color=(250, 230, 20)), "image/png"),
    }
    fields = {"color_strength": "0", "texture_strength": "0", "stroke_scale": "2"}
    with running_stack.client() as client:
        response = client.post(
            "/v1/stylizations", files=files, data={"method": "optimisation", **fields}
        )
        done, result = finished_result(running_stack, client, response)
    parameters = done["parameters"]
    assert (parameters["color_strength"], parameters["texture_strength"]) == (0.0, 0.0)
    assert parameters["stroke_scale"] == 2.0
    photo = Image.open(io.BytesIO(photo_png)).convert("RGB")
    assert max_diff(result, photo) <= 3
