"""Storage backends: the local folder (baseline), and S3 through boto3 (what app.storage uses)
and through obstore (when installed: the bench extra), against moto's server.

    python benchmarks/storage_clients.py [--count 40] [--sizes 64,1024,4096]

Starts `moto_server` on the loopback (it stops with the script), then for each object size in
KiB times, per object: `put` of new bytes (a HEAD, then a PUT), `put` of bytes already there (a
HEAD only: content-addressed), `get`, and `local_path` (a download to a temporary file, what the
model loader uses). Prints milliseconds (median) for the folder and for S3, and their ratio.
moto keeps objects in memory on this machine, so the S3 figures are the client's and the
protocol's cost, not a network's.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def median_ms(fn: Callable[[bytes], object], items: list[bytes]) -> float:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def rows(storage: object, size_kib: int, count: int) -> dict[str, float]:
    blobs = [os.urandom(size_kib * 1024) for _ in range(count)]
    put = storage.put  # type: ignore[attr-defined]
    keys: dict[bytes, str] = {}

    def get(blob: bytes) -> None:
        storage.get(keys[blob])  # type: ignore[attr-defined]

    def local(blob: bytes) -> None:
        with storage.local_path(keys[blob]) as path:  # type: ignore[attr-defined]
            path.stat()

    new = median_ms(lambda b: keys.__setitem__(b, put(b)), blobs)
    return {
        "put new": new,
        "put existing": median_ms(put, blobs),
        "get": median_ms(get, blobs),
        "local_path": median_ms(local, blobs),
    }


class ObstoreS3:
    """The same operations through obstore (Rust object_store) for comparison, when installed."""

    def __init__(self, bucket: str, prefix: str, endpoint: str) -> None:
        from obstore.store import S3Store

        self.prefix = prefix
        self.store = S3Store(
            bucket,
            endpoint=endpoint,
            region="us-east-1",
            access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            client_options={"allow_http": True},
        )

    def put(self, data: bytes) -> str:
        import hashlib

        import obstore

        key = hashlib.sha256(data).hexdigest()
        try:
            obstore.head(self.store, f"{self.prefix}/{key}")
        except FileNotFoundError:
            obstore.put(self.store, f"{self.prefix}/{key}", data)
        return key

    def get(self, key: str) -> bytes:
        import obstore

        return bytes(obstore.get(self.store, f"{self.prefix}/{key}").bytes())

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / key
            path.write_bytes(self.get(key))
            yield path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--sizes", default="64,1024,4096")
    args = parser.parse_args()

    import boto3

    from app.storage import LocalStorage, S3Storage

    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = 5000 + os.getpid() % 1000
    server = str(Path(sys.executable).parent / "moto_server")
    proc = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
        try:
            import obstore  # noqa: F401

            has_obstore = True
        except ImportError:
            has_obstore = False
        print("| object | operation | folder ms | S3 (boto3) ms | S3 (obstore) ms |")
        print("|---|---|---:|---:|---:|")
        with tempfile.TemporaryDirectory() as tmp:
            for size in (int(s) for s in args.sizes.split(",")):
                local = rows(LocalStorage(Path(tmp) / str(size)), size, args.count)
                s3 = rows(S3Storage("bench", f"p{size}", endpoint_url=endpoint), size, args.count)
                ob = (
                    rows(ObstoreS3("bench", f"o{size}", endpoint), size, args.count)
                    if (has_obstore)
                    else {}
                )
                for op, ms in local.items():
                    other = f"{ob[op]:.2f}" if op in ob else "-"
                    print(f"| {size} KiB | {op} | {ms:.2f} | {s3[op]:.2f} | {other} |")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
