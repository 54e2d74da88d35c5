"""Video through the API and a real worker: `POST /v1/videos` refuses every bad clip with its
code before it stores anything, and a clip goes end to end (real HTTP, a real `celery worker`
process, the embedded stack and Redis + PostgreSQL) to an MP4 with the source's frames and
sound and a poster; a canceled clip leaves no segment in storage, and a worker SIGKILLed
mid-clip is resumed at its first unfinished segment by another.

Clips are made here with PyAV: small (160x96 or 64x48), one to six seconds, so that the file
stays within a few minutes of CPU.
"""

import io
import os
import signal
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from service_helpers import WebhookReceiver, gradient_png

from app.storage import open_storage, storage_for

FPS = 24
ENDPOINT = "ATELIER_S3_ENDPOINT_URL"


def clip_bytes(
    width: int, height: int, seconds: float, *, audio: bool = False, picture: bool = True
) -> bytes:
    """An MP4: a pattern panning across the frame (H.264) and/or a 440 Hz tone (AAC)."""
    out = io.BytesIO()
    frames = round(seconds * FPS)
    with av.open(out, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS) if picture else None
        if video is not None:
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "stereo"
        if video is not None:
            ys, xs = np.mgrid[0:height, 0:width]
            for t in range(frames):
                rgb = np.stack(
                    [(xs * 4 + t * 3) % 256, (ys * 5) % 256, ((xs + ys) * 2 + t * 5) % 256], -1
                ).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
        if sound is not None:
            samples = int(seconds * 48000)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = np.ascontiguousarray(np.stack([tone[start : start + 1024]] * 2))
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = 48000, start
                frame.time_base = Fraction(1, 48000)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return out.getvalue()


def mp4_facts(data: bytes) -> dict:
    """What a result holds: codec, frames (decoded), rate, size, audio, where its index is."""
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        facts = {
            "codec": video.codec_context.name,
            "size": (video.codec_context.width, video.codec_context.height),
            "fps": video.average_rate,
            "audio": len(container.streams.audio),
            "frames": sum(1 for _ in container.decode(video=0)),
        }
    # faststart: the index (moov) before the pictures (mdat).
    facts["faststart"] = 0 <= data.find(b"moov") < data.find(b"mdat")
    return facts


def frames_of(data: bytes) -> np.ndarray:
    """(N, H, W, 3) float RGB of every frame of a clip."""
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames).astype(np.float32)


# -- bad input: refused with its code, nothing stored (the API in-process, no worker) ---------


def _post(api, video: bytes, **fields) -> object:
    return api.client.post(
        "/v1/videos",
        headers=api.headers(),
        files={
            "video": ("clip.mp4", video, "video/mp4"),
            "style": ("s.png", gradient_png((32, 32), 2), "image/png"),
        },
        data=fields,
    )


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("png", 415, "not_a_video"),
        ("text", 415, "not_a_video"),
        ("empty", 415, "not_a_video"),
        ("audio_only", 422, "no_video_stream"),
        ("truncated", 415, "not_a_video"),  # its index (at the end) cut off
    ],
)
def test_a_file_that_is_not_a_usable_clip_is_refused_with_its_code(api, case, status, code):
    good = clip_bytes(64, 48, 1.0)
    video = {
        "png": gradient_png((64, 48), 1),
        "text": b"hello, this is not a video\n" * 20,
        "empty": b"",
        "audio_only": clip_bytes(64, 48, 1.0, audio=True, picture=False),
        "truncated": good[: len(good) // 3],
    }[case]
    before = api.state()
    response = _post(api, video)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert api.state() == before
    assert api.uploads() == []  # the spooled clip went with the request


def test_limits_on_length_side_and_bytes_are_413_with_nothing_stored(api_with):
    clip = clip_bytes(160, 96, 2.0)
    cases = [
        ({"video_max_seconds": 1.0}, "video_too_long"),
        ({"video_max_side": 128}, "video_too_large"),
        ({"video_max_bytes": len(clip) - 1}, "file_too_large"),  # counted while streaming
    ]
    for overrides, code in cases:
        with api_with(**overrides) as api:
            before = api.state()
            response = _post(api, clip)
            assert response.status_code == 413, (overrides, response.text)
            assert response.json()["error"]["code"] == code
            assert api.state() == before
            assert api.uploads() == []


def test_a_usable_clip_with_no_model_is_409_and_bad_fields_are_422(api):
    before = api.state()
    clip = clip_bytes(64, 48, 1.0)
    response = _post(api, clip)
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_active_model"
    response = _post(api, clip, stability="2")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_parameter"
    response = _post(api, clip, keep_boxes="[[0, 0, 1]]")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_box"
    response = api.client.post(
        "/v1/videos", headers=api.headers(), files={"video": ("c.mp4", clip, "video/mp4")}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "style_required"
    assert api.state() == before
    assert api.uploads() == []


# -- end to end: a real worker ----------------------------------------------------------------

# The torch backend: a fresh test session's graph cache is empty, and `auto` would export and
# measure every backend at the worker's warm-up (minutes on a busy 2-core machine); what runs
# the frames is not what these tests are about.
WORKER_ENV = {"ATELIER_BACKEND": "torch"}


def _start(stack, model_file: Path, **env: str) -> object:
    """Upload the tiny test model and make it the default, as an admin does; then a worker
    (with `env` besides the stack's)."""
    with stack.client(stack.admin_key) as admin:
        uploaded = admin.post(
            "/v1/models", files={"file": ("m.safetensors", model_file.read_bytes())}
        )
        assert uploaded.status_code == 201, uploaded.text
        activated = admin.post(f"/v1/models/{uploaded.json()['id']}/activate")
        assert activated.status_code == 200, activated.text
    return stack.start_worker(**WORKER_ENV, **env)


def _submit(client, video: bytes, data: dict | None = None, **headers: str) -> dict:
    response = client.post(
        "/v1/videos",
        files={
            "video": ("clip.mp4", video, "video/mp4"),
            "style": ("s.png", gradient_png((48, 48), 3), "image/png"),
        },
        data=data or {},
        headers=headers,
    )
    assert response.status_code in (200, 202), response.text
    return response.json()


def _finished(job: dict) -> bool:
    return job["status"] in ("succeeded", "failed", "canceled")


def _segment_done(job: dict) -> bool:
    return _finished(job) or len(job["progress_info"].get("segments", [])) >= 1


@pytest.mark.e2e
def test_clips_end_to_end_then_a_cancel_that_leaves_no_files(fresh_stack, builtin_model_file):
    """One worker start serves every check (starting workers dominates the time): a clip with
    sound and a silent one (by `Prefer: wait`) to MP4s with their frames, sound and posters;
    an Idempotency-Key replayed; then a clip canceled within a segment, and one whose stream
    breaks mid-way."""
    stack = fresh_stack
    _start(stack, builtin_model_file)
    storage = storage_for(stack.settings)
    receiver = WebhookReceiver()
    with stack.client() as client:
        source = clip_bytes(160, 96, 1.5, audio=True)
        hook = {"webhook_url": receiver.url}
        job = _submit(client, source, hook, **{"Idempotency-Key": "clip-1"})
        assert job["kind"] == "video" and job["parameters"]["clip"]["frames"] == 36
        assert _submit(client, source, hook, **{"Idempotency-Key": "clip-1"})["id"] == job["id"]
        done = stack.wait_job(client, job["id"], _finished, timeout=180)
        assert done["status"] == "succeeded", done
        delivered = stack.wait_job(client, job["id"], lambda j: j["webhook_status"] != "pending")
        assert delivered["webhook_status"] == "delivered"
        receiver.server.shutdown()
        [payload] = receiver.payloads()
        assert payload["type"] == "job.succeeded" and payload["data"]["kind"] == "video"
        assert done["progress_info"]["frames_done"] == 36
        result = client.get(done["result_url"])
        poster = client.get(done["poster_url"])
        # Silent, and its left half kept as filmed in every frame.
        silent_source = clip_bytes(64, 48, 0.5)
        kept = {"keep_boxes": "[[0, 0, 0.5, 1]]"}
        silent = _submit(client, silent_source, kept, Prefer="wait=60")
        assert silent["status"] == "succeeded", silent
        silent_result = client.get(silent["result_url"]).content

        long = _submit(client, clip_bytes(160, 96, 6.0))
        running = stack.wait_job(client, long["id"], _segment_done, timeout=120)
        assert running["status"] == "running", "the clip finished before it could be canceled"
        assert running["eta_seconds"] is not None and running["progress_info"]["frames_done"] > 0
        segments = {s["video"] for s in running["progress_info"]["segments"]}
        assert client.post(f"/v1/jobs/{long['id']}/cancel").status_code == 200
        canceled = stack.wait_job(client, long["id"], _finished, timeout=60)
        assert canceled["status"] == "canceled"
        assert canceled["progress_info"]["frames_done"] < 144  # stopped, not run to the end
        assert client.get(f"/v1/jobs/{long['id']}/result").status_code == 409

        # A clip whose stream breaks mid-way passes the probe (its header and first frames are
        # sound) and fails in the worker with its code, its finished segments removed.
        broken = bytearray(clip_bytes(160, 96, 6.0))
        start, stop = len(broken) // 2, int(len(broken) * 0.7)
        noise = np.random.default_rng(0).integers(0, 256, stop - start, np.uint8)
        broken[start:stop] = noise.tobytes()
        corrupt = _submit(client, bytes(broken))
        failed = stack.wait_job(client, corrupt["id"], _finished, timeout=180)
        assert failed["status"] == "failed", failed
        assert failed["error"]["code"] == "corrupt_video", failed["error"]
        broken_segments = {s["video"] for s in failed["progress_info"].get("segments", [])}

    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    facts = mp4_facts(result.content)
    assert facts["codec"] == "h264" and facts["size"] == (160, 96) and facts["fps"] == FPS
    assert abs(facts["frames"] - 36) <= 1 and facts["audio"] == 1 and facts["faststart"]
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(poster.content)).size == (160, 96)
    assert done["result_info"]["method"] == "gan" and done["result_info"]["frames_resumed"] == 0
    facts = mp4_facts(silent_result)
    assert abs(facts["frames"] - 12) <= 1 and facts["audio"] == 0 and facts["size"] == (64, 48)
    # Levels of difference from the source: the kept half within H.264's loss, the rest styled.
    diff = np.abs(frames_of(silent_result)[:12] - frames_of(silent_source)[:12])
    kept_diff, styled_diff = diff[:, :, 2:30].mean(), diff[:, :, 36:].mean()
    assert kept_diff < 8 and styled_diff > 3 * kept_diff, (kept_diff, styled_diff)
    keys = set(storage.keys())
    # No segment outlives its job: finished (joined, then removed) or canceled (removed).
    assert not {s["video"] for s in done["progress_info"]["segments"]} & keys
    assert segments and not segments & keys
    assert canceled["progress_info"].get("carry") not in keys
    assert broken_segments and not broken_segments & keys  # one segment made, then removed
    assert failed["progress_info"].get("carry") not in keys


@pytest.mark.e2e
def test_a_sigkilled_worker_s_clip_resumes_at_its_first_unfinished_segment(
    fresh_stack, builtin_model_file
):
    stack = fresh_stack
    doomed = _start(stack, builtin_model_file)
    with stack.client() as client:
        job = _submit(client, clip_bytes(160, 96, 6.0, audio=True))
        running = stack.wait_job(client, job["id"], _segment_done, timeout=180)
        assert running["status"] == "running", "the clip finished before the worker was killed"
        os.kill(doomed.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        doomed.wait()  # type: ignore[attr-defined]
        stack.start_worker(**WORKER_ENV)
        done = stack.wait_job(client, job["id"], _finished, timeout=180)
        assert done["status"] == "succeeded", done
        result = client.get(done["result_url"]).content
    assert done["attempts"] == 2
    assert done["result_info"]["frames_resumed"] >= 48  # at least one 2 s segment kept
    facts = mp4_facts(result)
    assert abs(facts["frames"] - 144) <= 1 and facts["audio"] == 1


@pytest.mark.e2e
def test_a_clip_on_s3_storage_keeps_its_segments_there_and_nothing_locally(
    request, stack_with, s3_bucket, builtin_model_file
):
    """Segments, carry, result and poster go through the same Storage calls on every stack:
    S3 (moto's server) is checked once, on the embedded one."""
    if request.node.callspec.params["stack_with"] != "embedded":
        pytest.skip("S3 storage is checked on the embedded stack")
    with stack_with(**s3_bucket) as stack, stack.client() as client:
        _start(stack, builtin_model_file, **s3_bucket)
        job = _submit(client, clip_bytes(160, 96, 2.5, audio=True))
        done = stack.wait_job(client, job["id"], _finished, timeout=180)
        assert done["status"] == "succeeded", done
        facts = mp4_facts(client.get(done["result_url"]).content)
        assert client.get(done["poster_url"]).status_code == 200
    assert abs(facts["frames"] - 60) <= 1 and facts["audio"] == 1
    bucket = open_storage(s3_bucket["ATELIER_STORAGE_URL"], endpoint_url=s3_bucket[ENDPOINT])
    keys = set(bucket.keys())
    assert done["result_info"]["poster_sha256"] in keys
    assert len(done["progress_info"]["segments"]) == 2  # 2.5 s: two segments, both stored...
    assert not {s["video"] for s in done["progress_info"]["segments"]} & keys  # ...then removed
    local = stack.settings.storage_path
    assert not local.exists() or not any(p.is_file() for p in local.rglob("*"))
