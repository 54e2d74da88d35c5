"""S3 storage against moto's standalone server on the loopback: the storage contract, and one
job end to end with `s3://` storage (no file under the local data folder; the result served by
the API and through a presigned redirect)."""

from pathlib import Path

import httpx
import pytest

from app.storage import LocalStorage, S3Storage, open_storage


def _storage(s3_bucket: dict[str, str]) -> S3Storage:
    storage = open_storage(
        s3_bucket["ATELIER_STORAGE_URL"], endpoint_url=s3_bucket["ATELIER_S3_ENDPOINT_URL"]
    )
    assert isinstance(storage, S3Storage)
    return storage


def test_s3_storage_is_content_addressed_like_the_folder(s3_bucket) -> None:  # noqa: ANN001
    storage = _storage(s3_bucket)
    key = storage.put(b"first bytes")
    assert storage.put(b"first bytes") == key  # the same bytes: one object
    other = storage.put(b"other bytes")

    assert storage.keys() == sorted([key, other])
    assert storage.get(key) == b"first bytes"
    assert storage.exists(key)
    with storage.local_path(other) as path:
        assert path.read_bytes() == b"other bytes"
    assert not path.exists()  # the temporary download is gone
    storage.delete(key)
    assert not storage.exists(key)
    assert storage.keys() == [other]
    with pytest.raises(FileNotFoundError), storage.local_path(key):
        pass
    with pytest.raises(ValueError, match="not a storage key"):
        storage.get("../escape")


def test_a_presigned_url_fetches_the_object_without_credentials(s3_bucket) -> None:  # noqa: ANN001
    storage = _storage(s3_bucket)
    key = storage.put(b"\x89PNG result")
    url = storage.presigned_url(key, expires_s=60, content_type="image/png")

    answer = httpx.get(url)

    assert answer.status_code == 200
    assert answer.content == b"\x89PNG result"
    assert "Signature" in url or "X-Amz-Signature" in url


def test_storage_urls(tmp_path: Path) -> None:
    local = open_storage((tmp_path / "files").as_uri())
    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path / "files"
    for bad in ("s3:///prefix", "ftp://host/x"):
        with pytest.raises(ValueError, match="storage URL"):
            open_storage(bad)


@pytest.mark.e2e
def test_a_job_with_s3_storage_writes_nothing_locally(stack_with, s3_bucket, make_png) -> None:  # noqa: ANN001
    with stack_with(**s3_bucket) as stack, stack.client() as client:
        stack.start_worker()
        job = client.post(
            "/v1/stylizations",
            files={"content": ("c.png", make_png((40, 30))), "style": ("s.png", make_png())},
            data={"method": "optimisation"},
        ).json()
        done = stack.wait_job(client, job["id"], lambda j: j["status"] in ("succeeded", "failed"))
        assert done["status"] == "succeeded", done

        served = client.get(done["result_url"])
        assert served.status_code == 200
        redirect = client.get(done["result_url"], params={"redirect": 1})
        assert redirect.status_code == 307
        assert redirect.headers["location"].startswith(s3_bucket["ATELIER_S3_ENDPOINT_URL"])
        fetched = httpx.get(redirect.headers["location"])
        assert fetched.status_code == 200
        assert fetched.content == served.content

        storage = _storage(s3_bucket)
        assert len(storage.keys()) >= 3  # content, style, result
        local = stack.settings.storage_path
        assert not local.exists() or not any(p.is_file() for p in local.rglob("*"))


@pytest.mark.parametrize("same_file_system", [True, False])
def test_a_file_is_stored_under_the_key_its_bytes_would_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_file_system: bool
) -> None:
    """`put_file` (a clip, stored from its spooled file): the key `put` gives, the bytes whole,
    the caller's file left for it to remove; hard-linked, or copied across file systems."""
    if not same_file_system:

        def no_link(*_: object) -> None:
            raise OSError(18, "Invalid cross-device link")

        monkeypatch.setattr("app.storage.os.link", no_link)
    storage = LocalStorage(tmp_path / "files")
    upload = tmp_path / "upload"
    upload.write_bytes(b"clip bytes" * 1000)
    key = storage.put_file(upload)
    assert key == LocalStorage(tmp_path / "other").put(b"clip bytes" * 1000)
    assert storage.put_file(upload) == key  # already there: a no-op
    upload.unlink()
    assert storage.get(key) == b"clip bytes" * 1000
    assert storage.keys() == [key]  # no temporary name left behind


def test_s3_stores_a_file_in_parts_under_the_key_its_bytes_would_have(
    s3_bucket: dict[str, str], tmp_path: Path
) -> None:
    storage = _storage(s3_bucket)
    data = bytes(range(256)) * (40 * 1024)  # 10 MiB: past boto3's 8 MB multipart threshold
    upload = tmp_path / "upload"
    upload.write_bytes(data)
    key = storage.put_file(upload)
    assert key == storage.put(data)
    assert upload.exists() and storage.get(key) == data
