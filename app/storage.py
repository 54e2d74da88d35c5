"""Content-addressed blob storage: images and model files are named by the SHA-256 of their bytes.

Client file names never become paths. Two backends behind one small interface, chosen by the
`ATELIER_STORAGE_URL` setting (`open_storage`): a local folder (`file:///path`, the default) for
one machine, and S3 or an S3-compatible server (`s3://bucket/prefix`, with
`ATELIER_S3_ENDPOINT_URL` for MinIO or moto and the standard `AWS_*` variables) so that API and
workers can run on several machines. S3 goes through boto3, the reference client: its
`head_object` / `put_object` / `get_object` / presigned URLs are all this needs, it reads the
standard AWS_* configuration, and it is synchronous like the callers (README: the figures).
A large upload (a video clip) is stored from its file with `put_file`, never read into memory:
hard-linked or copied into the folder, streamed to S3 in parts by `upload_file`.
"""

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from app.config import Settings


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The key of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


class Storage(Protocol):
    def put(self, data: bytes) -> str:
        """Store `data`, return its key (its SHA-256); storing the same bytes twice is a no-op."""
        ...

    def put_file(self, path: Path) -> str:
        """`put` for the bytes of the file at `path`, without holding them in memory; the key is
        the same as `put`'s. The file is left where it is for the caller to remove, unchanged
        (the folder may keep its bytes under a second name)."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def local_path(self, key: str) -> AbstractContextManager[Path]:
        """A path on this machine for code that needs a file (the model loader)."""
        ...

    def keys(self) -> list[str]: ...


def _check_key(key: str) -> str:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalStorage:
    """A folder; writes go to a temporary file in the same folder, then an atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        key = _check_key(key)
        return self.root / key[:2] / key

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def put_file(self, path: Path) -> str:
        key = sha256_file(path)
        target = self._path(key)
        if target.exists():
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{os.urandom(8).hex()}"
        try:
            try:
                # Same file system (an upload folder beside the storage): a second name for
                # the same bytes, no copy. The caller only removes its own name afterwards.
                os.link(path, tmp)
            except OSError:
                shutil.copyfile(path, tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.exists():
            raise FileNotFoundError(key)
        yield path

    def keys(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("??/*") if not p.name.startswith("."))


class S3Storage:
    """A bucket (and key prefix) on S3 or an S3-compatible server; keys as in the folder."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        import boto3  # only where S3 is used
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        config = Config(retries={"mode": "standard", "max_attempts": 5})
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url, config=config)

    def _name(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}{key[:2]}/{key}"

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        if not self.exists(key):  # content-addressed: the same bytes are already there
            self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)
        return key

    def put_file(self, path: Path) -> str:
        key = sha256_file(path)
        if not self.exists(key):
            # boto3's managed transfer: read from the file in parts (multipart past 8 MB).
            self.client.upload_file(str(path), self.bucket, self._name(key))
        return key

    def get(self, key: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
        with body:
            data: bytes = body.read()
        return data

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """The object streamed into a temporary file (deleted afterwards), for the model loader."""
        from botocore.exceptions import ClientError

        with tempfile.TemporaryDirectory(prefix="atelier-s3-") as tmp:
            path = Path(tmp) / key
            try:
                self.client.download_file(self.bucket, self._name(key), str(path))
            except ClientError as exc:
                raise FileNotFoundError(key) from exc
            yield path

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        names = (item["Key"] for page in pages for item in page.get("Contents", []))
        return sorted(name.rsplit("/", 1)[-1] for name in names)

    def presigned_url(self, key: str, *, expires_s: int, content_type: str) -> str:
        """A URL that fetches the object without credentials for `expires_s` seconds."""
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._name(key),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_s,
        )
        return url


def open_storage(url: str, *, endpoint_url: str | None = None) -> Storage:
    """`file:///path` (or a plain path) or `s3://bucket/prefix` as a Storage."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"storage URL {url!r} names no bucket")
        return S3Storage(parts.netloc, parts.path, endpoint_url=endpoint_url)
    if parts.scheme in ("", "file"):
        return LocalStorage(Path(parts.path if parts.scheme else url))
    raise ValueError(f"storage URL {url!r}: use file:///path or s3://bucket/prefix")


def storage_for(settings: Settings) -> Storage:
    """The storage the settings name (`storage_url`, else the local `storage_dir`)."""
    return open_storage(settings.storage_location, endpoint_url=settings.s3_endpoint_url or None)
