"""The stylize task's contract, run in-process on a real job store, storage and model:
idempotent on redelivery, never runs a canceled job, fails bad model files with a code."""

import io
import json
import struct

import pytest
from in_process_worker import job_view as _job
from in_process_worker import solid_png as _png
from PIL import Image

from app import crud
from app.tables import JobStatus

pytest.importorskip("torch")


def _submit(api, method: str = "optimisation") -> str:
    response = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": ("c.png", _png((200, 10, 10))), "style": ("s.png", _png((0, 0, 250)))},
        data={"output_format": "webp", "method": method},
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_a_redelivered_task_for_a_finished_job_does_nothing(api, runtime):
    from worker.stylization import run_stylize

    job_id = _submit(api)
    assert run_stylize(runtime, job_id) == JobStatus.succeeded
    done = _job(api, job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 1
    files = api.state()["files"]

    assert run_stylize(runtime, job_id) is None  # the same message delivered again
    assert _job(api, job_id) == done
    assert api.state()["files"] == files
    result = api.client.get(done["result_url"], headers=api.headers())
    assert result.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(result.content)).size == (20, 16)


def test_a_job_canceled_while_queued_never_runs(api, runtime):
    from worker.stylization import run_stylize

    job_id = _submit(api)
    api.client.post(f"/v1/jobs/{job_id}/cancel", headers=api.headers())
    assert run_stylize(runtime, job_id) is None
    job = _job(api, job_id)
    assert job["status"] == "canceled" and job["attempts"] == 0 and job["started_at"] is None


def test_an_invalid_model_file_fails_the_job_with_model_invalid(api, runtime):
    """The API checks only the header; the worker's full load catches bad tensors."""
    from worker.stylization import run_stylize

    meta = {
        "format": "atelier-gan/1",
        "config": {},
        "encoder": {"name": "random", "digest": "0" * 16},
        "steps": 1,
    }
    header = json.dumps(
        {
            "__metadata__": {"atelier": json.dumps(meta)},
            "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        }
    ).encode()
    bogus = struct.pack("<Q", len(header)) + header + b"\0" * 8
    admin = api.headers(api.admin_key)
    model = api.client.post("/v1/models", headers=admin, files={"file": ("m.safetensors", bogus)})
    assert model.status_code == 201, model.text
    api.client.post(f"/v1/models/{model.json()['id']}/activate", headers=admin)

    job_id = _submit(api, "gan")
    assert run_stylize(runtime, job_id) == JobStatus.failed
    job = _job(api, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "model_invalid", job


def test_reaper_requeues_a_job_whose_worker_stopped_heartbeating(api, runtime):
    from datetime import timedelta

    job_id = _submit(api)
    with runtime.sessions() as session:
        crud.claim_job(session, job_id=job_id, worker="dead:1", max_attempts=3)
        resend = crud.reap(
            session,
            heartbeat_timeout=timedelta(seconds=60),
            requeue_after=timedelta(hours=1),
            max_attempts=3,
            now=crud.utcnow() + timedelta(seconds=61),
        )
    assert resend == [(job_id, "stylize")]
    job = _job(api, job_id)
    assert job["status"] == "queued" and job["attempts"] == 1
    # A late write from the dead worker is refused: it no longer holds the job.
    with runtime.sessions() as session:
        assert not crud.finish_job(
            session, job_id=job_id, worker="dead:1", status=JobStatus.succeeded
        )


def test_reaper_fails_a_job_after_max_attempts(api, runtime):
    from datetime import timedelta

    job_id = _submit(api)
    with runtime.sessions() as session:
        crud.claim_job(session, job_id=job_id, worker="dead:1", max_attempts=1)
        crud.reap(
            session,
            heartbeat_timeout=timedelta(seconds=60),
            requeue_after=timedelta(hours=1),
            max_attempts=1,
            now=crud.utcnow() + timedelta(seconds=61),
        )
    job = _job(api, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "worker_lost"


def test_worker_refuses_an_unmigrated_database(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool", "solo"],
        env={**env, "ATELIER_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "run `atelier db upgrade`" in result.stderr


def test_a_job_past_its_time_limit_fails_with_timeout_and_training_has_its_own_limit(api, runtime):
    import dataclasses

    from app.tables import Job, JobKind
    from worker.jobs import time_limit_s
    from worker.stylization import run_stylize

    hurried = dataclasses.replace(
        runtime, settings=api.settings.model_copy(update={"job_time_limit_s": 1e-6})
    )
    job_id = _submit(api)
    assert run_stylize(hurried, job_id) == JobStatus.failed
    failed = _job(api, job_id)
    assert failed["error"]["code"] == "timeout"
    # Hours of CPU training must not hit the stylization limit.
    assert time_limit_s(hurried, Job(kind=JobKind.train)) == api.settings.training_time_limit_s
    assert api.settings.training_time_limit_s > 24 * 3600


def test_a_reused_style_is_encoded_once_per_worker(api, runtime, tmp_path, monkeypatch):
    from models.inference import GANStylizer
    from models.train import TrainConfig, train
    from worker.stylization import run_stylize

    for folder, color in (("c", (200, 10, 10)), ("s", (0, 0, 250))):
        (tmp_path / folder).mkdir()
        for i in range(2):
            Image.new("RGB", (40, 40), tuple(max(0, v - 60 * i) for v in color)).save(
                tmp_path / folder / f"{i}.png"
            )
    config = TrainConfig(steps=1, image_size=32, batch_size=2, encoder="random", device="cpu")
    train(config, tmp_path / "c", tmp_path / "s", tmp_path / "m.safetensors")
    admin = api.headers(api.admin_key)
    upload = api.client.post(
        "/v1/models",
        headers=admin,
        files={"file": ("m.safetensors", (tmp_path / "m.safetensors").read_bytes())},
    )
    assert upload.status_code == 201, upload.text
    activated = api.client.post(
        f"/v1/models/{upload.json()['id']}/activate",
        headers=admin,
        json={"force": True, "reason": "test model"},
    )
    assert activated.status_code == 200, activated.text

    encoded = []
    original = GANStylizer.style_stats
    monkeypatch.setattr(
        GANStylizer, "style_stats", lambda self, image: encoded.append(1) or original(self, image)
    )
    first, second = _submit(api, "gan"), _submit(api, "gan")  # the same style image twice
    assert run_stylize(runtime, first) == JobStatus.succeeded
    assert run_stylize(runtime, second) == JobStatus.succeeded
    assert _job(api, second)["result_info"]["method"] == "gan"
    assert len(encoded) == 1


def test_a_jobs_last_stage_on_the_finisher_reports_its_status_when_done(api, runtime):
    """The worker's task path: run_stylize returns at once, the last stage (encode, store,
    final write) ends on the finisher thread, and `on_done` gets each job's final status."""
    from worker.jobs import Finisher
    from worker.stylization import run_stylize

    finisher, done = Finisher(), {}
    jobs = [_submit(api), _submit(api)]
    for job_id in jobs:
        on_done = lambda status, job_id=job_id: done.__setitem__(job_id, status)  # noqa: E731
        assert run_stylize(runtime, job_id, finisher=finisher, on_done=on_done) is None
    finisher.wait()
    assert done == {job_id: JobStatus.succeeded for job_id in jobs}
    for job_id in jobs:
        job = _job(api, job_id)
        assert job["status"] == "succeeded" and "handoff" in job["result_info"]["timings"]
        assert api.client.get(job["result_url"], headers=api.headers()).status_code == 200


def test_a_failed_last_stage_never_fails_the_next_job():
    from worker.jobs import Finisher

    finisher, ran = Finisher(), []
    finisher.submit(lambda: 1 / 0)  # logged; that job stays running for the reaper
    finisher.submit(lambda: ran.append("next"))
    finisher.wait()
    assert ran == ["next"]
