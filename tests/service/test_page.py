"""The page at `/` and the `GET /v1/me` endpoint it uses to check a key (in-process API)."""

import json
import re


def test_me_names_the_key_and_its_admin_flag(api):
    user = api.client.get("/v1/me", headers=api.headers())
    assert user.status_code == 200
    assert user.json() == {"id": user.json()["id"], "name": "user", "is_admin": False}
    admin = api.client.get("/v1/me", headers=api.headers(api.admin_key)).json()
    assert admin["name"] == "admin" and admin["is_admin"] is True
    assert set(admin) == {"id", "name", "is_admin"}  # never the secret or its hash


def test_me_refuses_a_wrong_key_with_the_standard_error(api):
    response = api.client.get("/v1/me", headers={"Authorization": "Bearer atl_wrong"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_page_is_served_with_the_limits_the_api_enforces(api):
    response = api.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    limits = json.loads(
        re.search(r'<script type="application/json" id="limits">(.*?)</script>', response.text)[1]
    )
    assert limits["max_upload_bytes"] == api.settings.max_upload_bytes
    assert limits["max_pixels"] == api.settings.max_pixels
    assert limits["max_upload_side"] == api.settings.max_upload_side
    assert limits["video_max_bytes"] == api.settings.video_max_bytes
    assert limits["video_max_seconds"] == api.settings.video_max_seconds
    assert limits["video_max_side"] == api.settings.video_max_side
    script = re.search(r'type="module" src="(/static/atelier/main\.js\?v=\w+)"', response.text)[1]
    assert api.client.get(script).status_code == 200
    # The modules it imports, each at its versioned URL (the page's import map).
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', response.text)[1])[
        "imports"
    ]
    assert "/static/atelier/api.js" in imports
    for versioned in imports.values():
        served = api.client.get(versioned)
        assert served.status_code == 200 and "javascript" in served.headers["content-type"]
    assert "/" not in api.client.get("/openapi.json").json()["paths"]  # the page is not API
