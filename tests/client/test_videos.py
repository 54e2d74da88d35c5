"""Video through the client against a served API with a real worker, on each stack: a clip
streamed from its path with a built-in style by `style_id` comes back an MP4 of the source's
frames with a JPEG poster (saved
streamed to disk, the bytes a download returns); a file that is not a clip is refused with the service's code (and
the clip's file is closed even so); the asyncio client submits and waits in one call.

The clip is made here with PyAV: 64x48, 8 frames at 8 fps (H.264), a second of CPU work."""

import asyncio
import contextlib
import io
import os
from pathlib import Path

import av
import numpy as np
import pytest
from atelier_client import AsyncClient, Client, UnsupportedFormatError
from atelier_client.options import streamed_part
from PIL import Image

from tests.models.video_clips import clip_bytes

FRAMES, FPS, SIZE = 8, 8, (64, 48)


def video_facts(data: bytes) -> tuple[str, tuple[int, int], int]:
    """A result's codec, size and number of decoded frames."""
    with av.open(io.BytesIO(data), "r") as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return video.codec_context.name, (video.width, video.height), frames


def open_files_on(path: Path) -> list[str]:
    """This process's file descriptors open on `path` (Linux's /proc/self/fd)."""
    target, found = str(path.resolve()), []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            if os.readlink(fd) == target:
                found.append(fd.name)
    return found


@pytest.fixture(scope="module")
def clip() -> bytes:
    return clip_bytes(*SIZE, FRAMES, FPS)


@pytest.fixture
def clip_file(clip: bytes, tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    return path


def builtin_style_id(client: Client) -> str:
    return next(s.id for s in client.styles.list() if s.builtin)


def test_a_clip_from_a_path_becomes_an_mp4_of_its_frames_with_a_poster(
    video_stack, clip_file, tmp_path
):
    assert video_facts(clip_file.read_bytes())[2] == FRAMES
    with Client(video_stack.url, video_stack.user_key, poll_interval=0.1) as client:
        style_id = builtin_style_id(client)
        job = client.videos.create(clip_file, style_id=style_id, strength=0.8)
        assert job.kind == "video" and job.style_id == style_id
        assert job.parameters["clip"]["frames"] == FRAMES and job.parameters["strength"] == 0.8
        done = job.wait(timeout=180)
        assert done.status == "succeeded", done.error
        assert done.poster_url == f"/v1/jobs/{job.id}/poster"
        saved = done.save(tmp_path / "stylized.mp4")
        assert saved.read_bytes() == done.download()  # streamed to disk, the same bytes
        poster = client.jobs.download_poster(job.id)
        listed = client.jobs.list(kind="video")

    codec, size, frames = video_facts(saved.read_bytes())
    assert codec == "h264" and size == SIZE and abs(frames - FRAMES) <= 1
    image = Image.open(io.BytesIO(poster))
    image.load()  # decodes: a whole image, not a header
    assert image.format == "JPEG" and image.size == SIZE
    assert job.id in [j.id for j in listed.data]
    assert open_files_on(clip_file) == []  # the path was opened to stream it, then closed


def test_a_file_that_is_not_a_clip_is_refused_with_the_service_code(video_stack, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with Client(video_stack.url, video_stack.user_key) as client:
        before = [j.id for j in client.jobs.list(kind="video").data]
        with pytest.raises(UnsupportedFormatError) as refused:
            client.videos.create(junk, style_id=builtin_style_id(client))
        after = [j.id for j in client.jobs.list(kind="video").data]
    assert refused.value.code == "not_a_video" and refused.value.status == 415
    assert after == before  # refused before anything was recorded
    assert open_files_on(junk) == []  # closed when the refusal ended the call


def test_the_async_client_submits_a_clip_and_waits_in_one_call(
    video_stack, clip, painting, tmp_path
):
    async def stylize() -> tuple[str, bytes, bytes, Path]:
        async with AsyncClient(video_stack.url, video_stack.user_key) as client:
            done = await client.videos.create(io.BytesIO(clip), painting, wait=True, timeout=180)
            saved = await done.save(tmp_path / "stylized.mp4")
            return done.status, await done.download(), await done.download_poster(), saved

    status, result, poster, saved = asyncio.run(stylize())
    assert status == "succeeded"
    assert abs(video_facts(result)[2] - FRAMES) <= 1
    assert saved.read_bytes() == result and list(tmp_path.iterdir()) == [saved]
    assert Image.open(io.BytesIO(poster)).size == SIZE


def test_a_clip_part_streams_a_path_and_closes_it(clip_file):
    with streamed_part(clip_file, "clip") as (name, content, _):
        assert name == "clip.mp4" and not isinstance(content, bytes)  # a file, read as sent
        assert open_files_on(clip_file) != []
    assert content.closed and open_files_on(clip_file) == []
    with streamed_part(b"\x00\x01", "clip") as (name, content, _):
        assert (name, content) == ("clip", b"\x00\x01")
