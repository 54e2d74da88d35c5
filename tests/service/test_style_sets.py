"""Style sets and content sets through the API: uploads (files or zip), data checks, add and
remove, thumbnails; and admin-only routes refuse user keys."""

import io
import zipfile

import numpy as np
from PIL import Image


def painting(seed: int, size=(64, 48)) -> Image.Image:
    """A distinct random 'painting' (different seeds -> far apart perceptual hashes)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _create(api, files, name="impressionists", key=None):
    return api.client.post(
        "/v1/style-sets",
        headers=api.headers(key or api.admin_key),
        files=files,
        data={"name": name},
    )


def _images(*blobs):
    return [("images", (f"p{i}.png", blob, "image/png")) for i, blob in enumerate(blobs)]


def test_a_set_of_two_images_is_refused_and_writes_nothing(api):
    before = api.state()
    response = _create(api, _images(encode(painting(1)), encode(painting(2))))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_few_images"
    assert api.state() == before
    # Three copies of one image are one image: refused too, and the message says why.
    same = encode(painting(1))
    response = _create(api, _images(same, same, same))
    assert response.json()["error"]["code"] == "too_few_images"
    assert "duplicate" in response.json()["error"]["message"]


def test_duplicates_and_small_images_are_reported(api):
    base = painting(7, (300, 300))
    files = _images(
        encode(base),
        encode(base),  # exact duplicate: stored once
        encode(base.resize((280, 280)), "JPEG", quality=90),  # near duplicate
        encode(painting(8, (300, 300))),
        encode(painting(9, (40, 30))),  # smaller than the 256 px training crop
    )
    response = _create(api, files)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["image_count"] == 4
    codes = [c["code"] for c in body["checks"]]
    assert codes.count("exact_duplicate") == 1
    assert codes.count("near_duplicate") == 1
    assert codes.count("small_image") == 1
    near = next(c for c in body["checks"] if c["code"] == "near_duplicate")
    ids = {img["filename"]: img["id"] for img in body["images"]}
    assert set(near["images"]) == {ids["p0.png"], ids["p2.png"]}
    small = next(c for c in body["checks"] if c["code"] == "small_image")
    assert small["images"] == [ids["p4.png"]]


def test_zip_upload_thumbnails_add_and_remove(api):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            z.writestr(f"set/{i}.png", encode(painting(20 + i, (400, 300))))
        z.writestr("set/readme.txt", b"not an image")
    response = api.client.post(
        "/v1/style-sets",
        headers=api.headers(api.admin_key),
        files={"archive": ("set.zip", archive.getvalue(), "application/zip")},
        data={"name": "zipped"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["image_count"] == 3 and body["kind"] == "style"
    thumb = api.client.get(body["images"][0]["thumbnail_url"], headers=api.headers())
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 256
    digest = body["digest"]

    added = api.client.post(
        f"/v1/style-sets/{body['id']}/images",
        headers=api.headers(api.admin_key),
        files=_images(encode(painting(30, (400, 300)))),
    )
    assert added.status_code == 200 and added.json()["image_count"] == 4
    assert added.json()["digest"] != digest
    first = body["images"][0]["id"]
    removed = api.client.delete(
        f"/v1/style-sets/{body['id']}/images/{first}", headers=api.headers(api.admin_key)
    )
    assert removed.status_code == 200 and removed.json()["image_count"] == 3
    again = api.client.delete(
        f"/v1/style-sets/{body['id']}/images/{removed.json()['images'][0]['id']}",
        headers=api.headers(api.admin_key),
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "too_few_images"
    # Users can read style sets (to stylize with them) but not content sets.
    assert api.client.get("/v1/style-sets", headers=api.headers()).status_code == 200
    assert api.client.get("/v1/content-sets", headers=api.headers()).status_code == 403


def test_a_bad_image_in_a_set_refuses_the_whole_upload(api):
    before = api.state()
    files = _images(encode(painting(1)), encode(painting(2)), encode(painting(3)), b"not an image")
    response = _create(api, files)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_format"
    assert api.state() == before


def test_stylization_needs_exactly_one_style_source(api):
    created = _create(api, _images(*(encode(painting(i)) for i in range(3)))).json()
    response = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": ("c.png", encode(painting(5)))},
        data={"style_set_id": created["id"], "style_id": "x"},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "style_required"
    missing = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": ("c.png", encode(painting(5)))},
        data={"style_set_id": "nope"},
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "style_set_not_found"
    ok = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": ("c.png", encode(painting(5)))},
        data={"style_set_id": created["id"], "seed": "42", "method": "optimisation"},
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["style_set_id"] == created["id"]
    assert ok.json()["parameters"]["seed"] == 42


ADMIN_ROUTES = [
    ("POST", "/v1/style-sets"),
    ("DELETE", "/v1/style-sets/x"),
    ("POST", "/v1/style-sets/x/images"),
    ("DELETE", "/v1/style-sets/x/images/y"),
    ("POST", "/v1/content-sets"),
    ("GET", "/v1/content-sets"),
    ("GET", "/v1/content-sets/x"),
    ("DELETE", "/v1/content-sets/x"),
    ("POST", "/v1/content-sets/x/images"),
    ("DELETE", "/v1/content-sets/x/images/y"),
    ("GET", "/v1/content-sets/x/images/y"),
    ("GET", "/v1/content-sets/x/images/y/thumbnail"),
    ("POST", "/v1/admin/trainings"),
    ("GET", "/v1/admin/trainings/x/preview"),
    ("POST", "/v1/models"),
    ("POST", "/v1/models/x/activate"),
    ("POST", "/v1/models/rollback"),
    ("GET", "/v1/models/activations"),
    ("GET", "/v1/admin/keys"),
    ("POST", "/v1/admin/keys"),
    ("PATCH", "/v1/admin/keys/x"),
    ("DELETE", "/v1/admin/keys/x/data"),
]


def test_every_admin_route_refuses_a_user_key(api):
    """Collected from every router in app.api.routes, so a new admin route is not forgotten."""
    import importlib
    import pkgutil

    from fastapi import APIRouter
    from fastapi.routing import APIRoute

    import app.api.routes as routes_pkg
    from app.api.deps import admin_key

    def needs_admin(route: APIRoute) -> bool:
        return any(d.call is admin_key for d in route.dependant.dependencies)

    names = {
        "{set_id}": "x", "{member_id}": "y", "{job_id}": "x", "{model_id}": "x", "{key_id}": "x"
    }  # fmt: skip
    declared = set()
    for info in pkgutil.iter_modules(routes_pkg.__path__):
        module = importlib.import_module(f"app.api.routes.{info.name}")
        for router in [v for v in vars(module).values() if isinstance(v, APIRouter)]:
            for route in router.routes:
                if isinstance(route, APIRoute) and needs_admin(route):
                    path = route.path
                    for placeholder, value in names.items():
                        path = path.replace(placeholder, value)
                    declared |= {(method, path) for method in route.methods}
    assert declared == set(ADMIN_ROUTES)
    for method, path in ADMIN_ROUTES:
        response = api.client.request(method, path, headers=api.headers())
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden"


def test_one_painting_of_a_set_is_a_style(api):
    created = _create(api, _images(*(encode(painting(30 + i, (80, 60))) for i in range(3)))).json()
    chosen = created["images"][1]
    content = ("c.png", encode(painting(99)), "image/png")
    ok = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": content},
        data={"style_set_image_id": chosen["id"], "method": "optimisation"},
    )
    assert ok.status_code == 202, ok.text
    job = ok.json()
    assert job["style_set_id"] is None
    # The job's style is that painting: its image is the one the set stored.
    from app.tables import ImageSetMember, Job

    with api.client.app.state.sessionmaker() as session:
        row = session.get(Job, job["id"])
        member = session.get(ImageSetMember, chosen["id"])
        assert row.style_sha256 == member.image_sha256
    before = api.state()
    missing = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": content},
        data={"style_set_image_id": "nope"},
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "style_set_image_not_found"
    assert api.state() == before
