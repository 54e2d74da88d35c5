"""API behaviour through httpx against the ASGI app, on a real (SQLite) job store and broker."""

import io
import json
import struct

import pytest
from PIL import Image


def _png(color=(10, 120, 200), size=(24, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def _submit(api, key=None, headers=None, **data):
    return api.client.post(
        "/v1/stylizations",
        headers={**api.headers(key), **(headers or {})},
        files={"content": ("c.png", _png()), "style": ("s.png", _png((200, 0, 0)))},
        data={"method": "optimisation", **data},
    )


# --- auth ------------------------------------------------------------------------------------

V1_ROUTES = [
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/some-id"),
    ("POST", "/v1/stylizations"),
    ("GET", "/v1/styles"),
    ("POST", "/v1/styles"),
    ("GET", "/v1/models"),
    ("POST", "/v1/admin/trainings"),
    ("POST", "/v1/style-sets"),
    ("POST", "/v1/models"),
]


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
def test_v1_routes_need_a_key(api, method, path):
    response = api.client.request(method, path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    bad = api.client.request(method, path, headers={"Authorization": "Bearer atl_wrong"})
    assert bad.status_code == 401


def test_x_api_key_header_is_accepted(api):
    assert api.client.get("/v1/jobs", headers={"X-API-Key": api.user_key}).status_code == 200


def test_user_key_on_admin_routes_is_forbidden(api):
    upload = api.client.post(
        "/v1/models", headers=api.headers(), files={"file": ("m.safetensors", _model_file())}
    )
    assert upload.status_code == 403 and upload.json()["error"]["code"] == "forbidden"
    activate = api.client.post("/v1/models/x/activate", headers=api.headers())
    assert activate.status_code == 403


def test_a_user_cannot_see_another_users_job(api):
    job = _submit(api).json()
    for method, path in [
        ("GET", f"/v1/jobs/{job['id']}"),
        ("GET", f"/v1/jobs/{job['id']}/result"),
        ("POST", f"/v1/jobs/{job['id']}/cancel"),
    ]:
        response = api.client.request(method, path, headers=api.headers(api.other_key))
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "job_not_found"
    assert api.client.get("/v1/jobs", headers=api.headers(api.other_key)).json()["data"] == []
    # ...while its owner and an admin can.
    assert api.client.get(f"/v1/jobs/{job['id']}", headers=api.headers()).status_code == 200
    admin = api.client.get(f"/v1/jobs/{job['id']}", headers=api.headers(api.admin_key))
    assert admin.status_code == 200


# --- jobs ------------------------------------------------------------------------------------


def test_idempotency_key_returns_the_same_job(api):
    first = _submit(api, headers={"Idempotency-Key": "order-42"})
    again = _submit(api, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert api.state()["rows"]["jobs"] == 1
    # The key is scoped to its API key: another user gets their own job.
    other = _submit(api, key=api.other_key, headers={"Idempotency-Key": "order-42"})
    assert other.json()["id"] != first.json()["id"]


def test_jobs_are_listed_newest_first_with_a_cursor(api):
    ids = [_submit(api).json()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/v1/jobs", headers=api.headers(), params=params).json()
        assert len(page["data"]) <= 2
        seen += [job["id"] for job in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_jobs_filter_by_status_and_kind(api):
    keep, cancel = _submit(api).json(), _submit(api).json()
    api.client.post(f"/v1/jobs/{cancel['id']}/cancel", headers=api.headers())
    listed = api.client.get("/v1/jobs", headers=api.headers(), params={"status": "canceled"})
    assert [j["id"] for j in listed.json()["data"]] == [cancel["id"]]
    queued = api.client.get("/v1/jobs", headers=api.headers(), params={"status": "queued"})
    assert [j["id"] for j in queued.json()["data"]] == [keep["id"]]
    trains = api.client.get("/v1/jobs", headers=api.headers(), params={"kind": "train"})
    assert trains.json()["data"] == []
    bad = api.client.get("/v1/jobs", headers=api.headers(), params={"status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_parameter"
    cursor = api.client.get("/v1/jobs", headers=api.headers(), params={"cursor": "zzz"})
    assert cursor.status_code == 422 and cursor.json()["error"]["code"] == "invalid_cursor"


def test_cancel_a_queued_job_and_not_twice(api):
    job = _submit(api).json()
    canceled = api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=api.headers())
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = api.client.post(f"/v1/jobs/{job['id']}/cancel", headers=api.headers())
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"


def test_result_of_an_unfinished_job_is_409(api):
    job = _submit(api).json()
    response = api.client.get(f"/v1/jobs/{job['id']}/result", headers=api.headers())
    assert response.status_code == 409 and response.json()["error"]["code"] == "job_not_succeeded"


def test_sizes_are_recorded_by_what_they_are_and_max_side_still_sets_both(api):
    default = _submit(api).json()["parameters"]
    assert default["tile_size"] == api.settings.default_tile_size
    assert default["working_size"] is None  # the worker's ATELIER_OPTIMISATION_SIZE
    assert "max_side" not in default
    given = _submit(api, tile_size="512", working_size="128").json()["parameters"]
    assert (given["tile_size"], given["working_size"]) == (512, 128)
    old = _submit(api, max_side="256").json()["parameters"]  # the old name, for one release
    assert (old["tile_size"], old["working_size"]) == (256, 256) and "max_side" not in old


def test_renamed_size_settings_still_read_their_old_variables(monkeypatch):
    from app.config import get_settings

    monkeypatch.setenv("ATELIER_MAX_SIDE", "4096")
    monkeypatch.setenv("ATELIER_DEFAULT_OUTPUT_SIDE", "640")
    monkeypatch.setenv("ATELIER_DEFAULT_TILE_SIZE", "768")  # the new name wins over the old
    get_settings.cache_clear()
    try:
        with pytest.warns(DeprecationWarning, match="ATELIER_MAX_SIDE"):
            settings = get_settings()
    finally:
        get_settings.cache_clear()
    assert (settings.max_upload_side, settings.default_tile_size) == (4096, 768)


def test_submitted_job_is_in_the_broker_queue(api):
    _submit(api)
    metrics = api.client.get("/metrics", headers=api.headers(api.admin_key)).text
    assert 'atelier_queue_depth{queue="inference"} 1.0' in metrics
    assert 'atelier_jobs{status="queued"} 1.0' in metrics


# --- styles ----------------------------------------------------------------------------------


def test_style_lifecycle_and_use_by_id(api):
    created = api.client.post(
        "/v1/styles",
        headers=api.headers(),
        files={"image": ("wave.png", _png((1, 2, 3)))},
        data={"name": "Wave"},
    )
    assert created.status_code == 201
    style = created.json()
    assert style["name"] == "Wave" and (style["width"], style["height"]) == (24, 16)
    assert [
        s["id"] for s in api.client.get("/v1/styles", headers=api.headers()).json()["data"]
    ] == [style["id"]]
    image = api.client.get(style["image_url"], headers=api.headers())
    assert image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).getpixel((0, 0)) == (1, 2, 3)
    # Another user can neither see nor use it.
    assert (
        api.client.get(f"/v1/styles/{style['id']}", headers=api.headers(api.other_key)).status_code
        == 404
    )
    job = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": ("c.png", _png())},
        data={"style_id": style["id"], "method": "optimisation"},
    )
    assert job.status_code == 202 and job.json()["style_id"] == style["id"]
    deleted = api.client.delete(f"/v1/styles/{style['id']}", headers=api.headers())
    assert deleted.status_code == 204
    assert api.client.get(f"/v1/styles/{style['id']}", headers=api.headers()).status_code == 404


# --- models ----------------------------------------------------------------------------------


def _model_file(metadata: dict | None = None, tensor_bytes: int = 16, truncate: int = 0) -> bytes:
    """A safetensors file as `atelier train` writes it (one float32 tensor)."""
    meta = {
        "format": "atelier-gan/1",
        "config": {},
        "encoder": {"name": "random", "digest": "0" * 16},
        "steps": 1,
    }
    header = {
        "__metadata__": {"atelier": json.dumps(metadata if metadata is not None else meta)},
        "w": {"dtype": "F32", "shape": [tensor_bytes // 4], "data_offsets": [0, tensor_bytes]},
    }
    raw = json.dumps(header).encode()
    data = struct.pack("<Q", len(raw)) + raw + b"\0" * tensor_bytes
    return data[: len(data) - truncate] if truncate else data


def test_admin_uploads_lists_and_activates_models(api):
    admin = api.headers(api.admin_key)
    first = api.client.post(
        "/v1/models", headers=admin, files={"file": ("a.safetensors", _model_file())}
    )
    assert first.status_code == 201, first.text
    assert first.json()["info"]["format"] == "atelier-gan/1" and first.json()["is_active"] is False
    second = api.client.post(
        "/v1/models",
        headers=admin,
        files={"file": ("b.safetensors", _model_file(tensor_bytes=32))},
        data={"name": "b"},
    )
    for model in (first.json(), second.json()):
        activated = api.client.post(f"/v1/models/{model['id']}/activate", headers=admin)
        assert activated.status_code == 200 and activated.json()["is_active"] is True
    listed = api.client.get("/v1/models", headers=api.headers()).json()["data"]
    assert {m["id"]: m["is_active"] for m in listed} == {
        first.json()["id"]: False,
        second.json()["id"]: True,
    }
    missing = api.client.post("/v1/models/nope/activate", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a model at all",
        _model_file(metadata={"format": "something-else/9"}),
        _model_file(metadata={"format": "atelier-gan/1", "config": {}}),
        _model_file(
            metadata={
                "format": "atelier-gan/1",
                "config": {"architecture": "transformer"},
                "encoder": {"name": "random", "digest": "0" * 16},
            }
        ),
        _model_file(truncate=8),
        struct.pack("<Q", 10**6) + b"{}",
    ],
    ids=[
        "empty",
        "garbage",
        "wrong format",
        "no encoder (the worker could not load it)",
        "a generator architecture no worker builds",
        "truncated tensors",
        "header past the end",
    ],
)
def test_invalid_model_files_are_rejected_without_a_trace(api, data):
    before = api.state()
    response = api.client.post(
        "/v1/models", headers=api.headers(api.admin_key), files={"file": ("m.safetensors", data)}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "model_invalid"
    assert api.state() == before


# --- names -----------------------------------------------------------------------------------


def test_one_name_rule_everywhere_1_to_200_characters_never_truncated(api):
    """Styles, style sets, models and trainings: a 201-character name is a 422 that writes
    nothing, a 200-character one is kept whole."""
    admin = api.headers(api.admin_key)
    paintings = []
    for i in range(3):
        out = io.BytesIO()
        Image.new("RGB", (40, 40), (80 * i, 200 - 60 * i, 30)).save(out, format="PNG")
        paintings.append(("images", (f"p{i}.png", out.getvalue(), "image/png")))
    creates = {
        "style": lambda name: api.client.post(
            "/v1/styles", headers=admin, files={"image": ("s.png", _png())}, data={"name": name}
        ),
        "style set": lambda name: api.client.post(
            "/v1/style-sets", headers=admin, files=paintings, data={"name": name}
        ),
        "model": lambda name: api.client.post(
            "/v1/models",
            headers=admin,
            files={"file": ("m.st", _model_file())},
            data={"name": name},
        ),
    }
    for what, create in creates.items():
        before = api.state()
        for bad in ("x" * 201, "   "):
            refused = create(bad)
            assert refused.status_code == 422, (what, refused.text)
            assert refused.json()["error"]["code"] == "invalid_parameter", what
        assert api.state() == before, what
        kept = create("n" * 200)
        assert kept.status_code == 201 and kept.json()["name"] == "n" * 200, (what, kept.text)
    style_set = creates["style set"]("for training").json()["id"]
    too_long = api.client.post(
        "/v1/admin/trainings", headers=admin, json={"style_set_id": style_set, "name": "x" * 201}
    )
    assert too_long.status_code == 422
    whole = api.client.post(
        "/v1/admin/trainings", headers=admin, json={"style_set_id": style_set, "name": "n" * 200}
    )
    assert whole.status_code == 202 and whole.json()["parameters"]["name"] == "n" * 200
