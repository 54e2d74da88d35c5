"""`POST /v1/videos` streams a clip to a temporary file instead of holding it in memory: a clip
of tens of megabytes, sent to a real uvicorn (in this process, so that `tracemalloc` sees the
server's allocations) raises the process's traced peak by a small fraction of its size, is
stored whole under its sha256, and leaves nothing in the upload folder; a clip refused while it
streams in leaves no partial file there either.

The clip is lossless H.264 of random noise (incompressible, so a second and a half of 720p is
over 40 MB): made once per module with PyAV in about a second.
"""

import hashlib
import os
import time
import tracemalloc
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from service_helpers import gradient_png

from app import crud
from app.reaper import STALE_UPLOAD_S, remove_stale_uploads

PEAK_FRACTION = 0.25  # of the clip's size; holding the clip once would be 1.0


@pytest.fixture(scope="module")
def noise_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "noise.mp4"
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8) for _ in range(4)]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream(
            "libx264", rate=24, options={"qp": "0", "preset": "ultrafast"}
        )
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.gop_size = 1  # every frame a key frame: repeated noise costs its full size again
        for i in range(40):
            frame = av.VideoFrame.from_ndarray(pictures[i % 4], format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert path.stat().st_size > 40_000_000
    return path


def _activate_a_model(api) -> None:
    """A video job needs an active GAN model; the worker that would load it never runs here."""
    with api.client.app.state.sessionmaker() as session:
        model = crud.create_model(session, name="m", sha256="0" * 64, size_bytes=1, info={})
        crud.activate_model(session, model=model)


def _send(url: str, key: str, clip: Path) -> httpx.Response:
    """The clip streamed from its file (httpx reads a file part in 64 KiB chunks)."""
    with clip.open("rb") as video, httpx.Client(timeout=60) as client:
        return client.post(
            f"{url}/v1/videos",
            headers={"Authorization": f"Bearer {key}"},
            files={
                "video": ("clip.mp4", video, "video/mp4"),
                "style": ("s.png", gradient_png((32, 32), 2), "image/png"),
            },
        )


def test_a_large_clip_is_stored_without_being_held_in_memory(api, live_server, noise_clip):
    _activate_a_model(api)
    host, port = live_server(api.client.app)
    size = noise_clip.stat().st_size
    tracemalloc.start()
    try:
        response = _send(f"http://{host}:{port}", api.user_key, noise_clip)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 202, response.text
    assert peak < PEAK_FRACTION * size, f"peak {peak / 1e6:.1f} MB, clip {size / 1e6:.1f} MB"
    job = response.json()
    digest = hashlib.sha256(noise_clip.read_bytes()).hexdigest()
    assert job["parameters"]["clip"]["frames"] == 40
    storage = api.client.app.state.storage
    with storage.local_path(digest) as stored:
        assert stored.stat().st_size == size
    assert api.uploads() == []


def test_a_clip_refused_while_streaming_leaves_no_partial_file(api_with, live_server, noise_clip):
    """Over `video_max_bytes` after some megabytes have been spooled: 413, and the partial file
    is gone with the request. (The images' limit is raised so that the body's declared length
    is within what the form allows: the clip's own limit, counted as it streams, refuses it.)"""
    with api_with(video_max_bytes=8_000_000, max_upload_bytes=40_000_000) as api:
        host, port = live_server(api.client.app)
        before = api.state()
        # The server answers and closes while the client still sends: httpx reads the answer.
        response = _send(f"http://{host}:{port}", api.user_key, noise_clip)
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "file_too_large" and "'video'" in error["message"]
        assert api.state() == before
        assert api.uploads() == []


def test_the_reaper_removes_only_uploads_no_request_has_written_for_an_hour(
    tmp_path: Path,
) -> None:
    """An API process killed mid-upload leaves its spooled file; the reaper's pass removes it
    once untouched for an hour, and leaves a file still being written and other files alone."""
    stale, fresh, other = tmp_path / "upload-a", tmp_path / "upload-b", tmp_path / "keep.txt"
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    hour_ago = time.time() - STALE_UPLOAD_S - 5
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    assert remove_stale_uploads(tmp_path) == [stale]
    assert not stale.exists() and fresh.exists() and other.exists()
    assert remove_stale_uploads(tmp_path / "absent") == []
