"""`save` streams a result to disk, against a loopback server that drops the connection part-way
through the body (a `Content-Length` of 3 MiB, a chunk and 1 KiB sent, so that the partial
file holds data when the connection drops): the retries start again from the beginning, and
a save that fails for good leaves neither the target nor a partial file, nor changes a file
already there; and the body reaches the disk while it is still arriving. Both clients; no
service needed."""

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from atelier_client import APIConnectionError, AsyncClient, Client
from atelier_client.streaming import CHUNK_BYTES
from atelier_client.transport import RetryPolicy

BODY = bytes(range(256)) * (3 * CHUNK_BYTES // 256)
SENT_BEFORE_THE_DROP = CHUNK_BYTES + 1024  # a chunk written to the `.part` file, then a drop


class ResultServer(ThreadingHTTPServer):
    """Answers any GET with `BODY`'s headers; `whole[i]` says whether the i-th answer sends
    the body whole (past the list: dropped after `SENT_BEFORE_THE_DROP` bytes)."""

    daemon_threads = True

    def __init__(self, whole: list[bool], watch: Path | None = None) -> None:
        super().__init__(("127.0.0.1", 0), ResultHandler)
        self.whole = whole
        self.paths: list[str] = []
        # With `watch`, a whole body pauses half-way until that file holds a chunk (5 s at
        # most), and `seen_on_disk` says how many bytes it held then.
        self.watch = watch
        self.seen_on_disk = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ResultHandler(BaseHTTPRequestHandler):
    server: ResultServer

    def do_GET(self) -> None:
        attempt = len(self.server.paths)
        self.server.paths.append(self.path)
        whole = attempt < len(self.server.whole) and self.server.whole[attempt]
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        if not whole:
            self.wfile.write(BODY[:SENT_BEFORE_THE_DROP])
        elif self.server.watch is None:
            self.wfile.write(BODY)
        else:
            half = len(BODY) // 2
            self.wfile.write(BODY[:half])
            self.wfile.flush()
            self.server.seen_on_disk = wait_for_bytes(self.server.watch, CHUNK_BYTES, 5.0)
            self.wfile.write(BODY[half:])
        self.close_connection = True  # closed here, short of `Content-Length`

    def log_message(self, format: str, *args: object) -> None:
        pass


def wait_for_bytes(path: Path, size: int, seconds: float) -> int:
    """How many bytes `path` holds once it holds `size`, or when `seconds` ran out (0: no
    file)."""
    deadline = time.monotonic() + seconds
    while True:
        held = path.stat().st_size if path.exists() else 0
        if held >= size or time.monotonic() > deadline:
            return held
        time.sleep(0.01)


@pytest.fixture
def serve() -> Iterator[object]:
    """`serve(whole, watch=None)`: a `ResultServer` running in a thread until the test ends."""
    servers: list[ResultServer] = []

    def start(whole: list[bool], watch: Path | None = None) -> ResultServer:
        server = ResultServer(whole, watch)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


QUICK_RETRIES = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.01)


def save(url: str, path: Path, *, use_async: bool) -> Path:
    """`client.jobs.save("job_1", path)` on the blocking or the asyncio client."""
    if not use_async:
        with Client(url, "atl_x") as client:
            client.retry_policy = QUICK_RETRIES
            return client.jobs.save("job_1", path)

    async def run() -> Path:
        async with AsyncClient(url, "atl_x") as client:
            client.retry_policy = QUICK_RETRIES
            return await client.jobs.save("job_1", path)

    return asyncio.run(run())


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_body_cut_short_is_a_connection_error_and_leaves_no_file(serve, tmp_path, use_async):
    server = serve([])
    target = tmp_path / "stylized.mp4"
    with pytest.raises(APIConnectionError) as failed:
        save(server.url, target, use_async=use_async)
    assert failed.value.code == "connection_error" and failed.value.status is None
    assert server.paths == ["/v1/jobs/job_1/result"] * 3  # the first try and 2 retries
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no `.stylized.mp4.part` either


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_failed_save_keeps_the_file_already_there(serve, tmp_path, use_async):
    server = serve([])
    target = tmp_path / "stylized.mp4"
    target.write_bytes(b"yesterday's result")
    with pytest.raises(APIConnectionError):
        save(server.url, target, use_async=use_async)
    assert target.read_bytes() == b"yesterday's result"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_retry_after_a_cut_body_writes_the_file_from_the_start(serve, tmp_path, use_async):
    server = serve([False, True])
    target = tmp_path / "stylized.mp4"
    assert save(server.url, target, use_async=use_async) == target
    assert len(server.paths) == 2
    assert target.read_bytes() == BODY  # not the first try's bytes followed by the whole
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_the_body_reaches_the_disk_while_it_is_still_arriving(serve, tmp_path, use_async):
    target = tmp_path / "stylized.mp4"
    server = serve([True], watch=tmp_path / ".stylized.mp4.part")
    save(server.url, target, use_async=use_async)
    # Half the body was sent and the rest held back: a chunk of it was on disk already.
    assert CHUNK_BYTES <= server.seen_on_disk < len(BODY)
    assert target.read_bytes() == BODY and list(tmp_path.iterdir()) == [target]
