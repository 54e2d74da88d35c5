"""`POST /v1/admin/trainings` checks every setting against contracts.training before a job
exists: an unknown augmentation or a value out of bounds is a 422 that writes nothing."""

import io

import numpy as np
import pytest
from PIL import Image

from contracts.training import BY_API_NAME


def _style_set(api) -> str:
    files = []
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        out = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((48, 48)).save(
            out, format="PNG"
        )
        files.append(("images", (f"p{seed}.png", out.getvalue(), "image/png")))
    response = api.client.post(
        "/v1/style-sets", headers=api.headers(api.admin_key), files=files, data={"name": "s"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _start(api, **body):
    return api.client.post("/v1/admin/trainings", headers=api.headers(api.admin_key), json=body)


def test_an_unknown_augmentation_is_refused_at_the_api(api):
    style_set = _style_set(api)
    before = api.state()
    response = _start(api, style_set_id=style_set, augment="color,blur")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and "blur" in error["message"]
    assert api.state() == before


OUT_OF_BOUNDS = [
    (name, value)
    for name, s in BY_API_NAME.items()
    for value in (
        ([s.ge - 1] if s.ge is not None else []) + ([s.le * 2 + 1] if s.le is not None else [])
    )
]


@pytest.mark.parametrize(
    ("name", "value"), OUT_OF_BOUNDS, ids=[f"{n}={v}" for n, v in OUT_OF_BOUNDS]
)
def test_every_setting_out_of_its_bounds_is_refused(api, name, value):
    response = _start(api, style_set_id="any", **{name: value})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"][-1] == name


def test_a_job_records_the_contract_defaults(api):
    response = _start(api, style_set_id=_style_set(api), augment="")
    assert response.status_code == 202, response.text
    parameters = response.json()["parameters"]
    for name, setting in BY_API_NAME.items():
        expected = "" if name == "augment" else setting.default
        assert parameters[name] == expected, name
