"""The stylize task's contract, run in-process on a real job store, storage and model:
idempotent on redelivery, never runs a canceled job, fails bad model files with a code."""

import io
import json
import struct

import pytest
from PIL import Image

from app import crud
from app.storage import LocalStorage
from app.tables import JobStatus

pytest.importorskip("torch")


@pytest.fixture
def runtime(api):
    from worker.runtime import Runtime

    state = api.client.app.state
    return Runtime(
        settings=api.settings,
        sessions=state.sessionmaker,
        storage=LocalStorage(api.settings.storage_path),
        name="test-worker:1",
    )


def _png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 16), color).save(out, format="PNG")
    return out.getvalue()


def _submit(api, method: str = "optimisation") -> str:
    response = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": ("c.png", _png((200, 10, 10))), "style": ("s.png", _png((0, 0, 250)))},
        data={"output_format": "webp", "method": method},
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _job(api, job_id):
    return api.client.get(f"/v1/jobs/{job_id}", headers=api.headers()).json()


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


def _image_set(api, kind: str, colors) -> str:
    import numpy as np

    files = []
    for i, seed in enumerate(colors):
        rng = np.random.default_rng(seed)
        img = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((48, 48))
        out = io.BytesIO()
        img.save(out, format="PNG")
        files.append(("images", (f"{kind}{i}.png", out.getvalue(), "image/png")))
    response = api.client.post(
        f"/v1/{kind}-sets", headers=api.headers(api.admin_key), files=files, data={"name": kind}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_training_job_registers_a_gated_model_that_then_stylizes_with_the_set(api, runtime):
    """train -> model version with lineage, evaluation, sheet, gate -> forced activation ->
    a stylization with the style set uses the GAN and the set's stored statistics."""
    from worker.stylization import run_stylize
    from worker.training import run_train

    style_set = _image_set(api, "style", [1, 2, 3])
    content_set = _image_set(api, "content", [4, 5, 6, 7])
    body = {
        "name": "tiny",
        "style_set_id": style_set,
        "content_set_id": content_set,
        "steps": 4,
        "image_size": 32,
        "batch_size": 2,
        "checkpoint_every": 2,
        "preview_every": 2,
    }
    user = api.client.post("/v1/admin/trainings", headers=api.headers(), json=body)
    assert user.status_code == 403
    response = api.client.post("/v1/admin/trainings", headers=api.headers(api.admin_key), json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.json()["kind"] == "train"

    assert run_train(runtime, job_id) == JobStatus.succeeded
    job = api.client.get(f"/v1/jobs/{job_id}", headers=api.headers(api.admin_key)).json()
    assert job["progress_info"]["step"] == 4 and job["progress_info"]["total"] == 4
    assert set(job["progress_info"]["losses"]) >= {"d", "g", "content", "style"}
    preview = api.client.get(job["preview_url"], headers=api.headers(api.admin_key))
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    model_id = job["result_info"]["model_id"]
    model = api.client.get(f"/v1/models/{model_id}", headers=api.headers()).json()
    assert model["training_job_id"] == job_id and model["is_active"] is False
    assert model["lineage"]["style_set"]["id"] == style_set
    assert model["lineage"]["content_set"]["id"] == content_set
    assert model["lineage"]["parameters"]["steps"] == 4
    assert model["lineage"]["code_version"]
    assert model["lineage"]["data_digests"]["style"].startswith("sha256:")
    assert model["evaluation"]["heldout"]["held_out"] is True  # 2 of the 4 photos
    assert {"content", "style", "kid"} <= set(model["evaluation"])
    # Nothing was active and there is no base model: no baseline, so the gate fails.
    assert model["gate"]["passed"] is False
    assert model["gate"]["failures"][0]["code"] == "no_baseline"
    sheet = api.client.get(model["contact_sheet_url"], headers=api.headers())
    assert sheet.status_code == 200 and sheet.content.startswith(b"\x89PNG")

    admin = api.headers(api.admin_key)
    refused = api.client.post(f"/v1/models/{model_id}/activate", headers=admin)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "gate_failed"
    no_reason = api.client.post(
        f"/v1/models/{model_id}/activate", headers=admin, json={"force": True}
    )
    assert no_reason.status_code == 422
    forced = api.client.post(
        f"/v1/models/{model_id}/activate",
        headers=admin,
        json={"force": True, "reason": "first model, reviewed the sheet"},
    )
    assert forced.status_code == 200 and forced.json()["is_active"] is True
    log = api.client.get("/v1/models/activations", headers=admin).json()["data"]
    assert log[0]["forced"] is True and log[0]["reason"] == "first model, reviewed the sheet"

    stylize = api.client.post(
        "/v1/stylizations",
        headers=api.headers(),
        files={"content": ("c.png", _png((200, 10, 10)))},
        data={"style_set_id": style_set, "seed": "7"},
    )
    stylize_id = stylize.json()["id"]
    assert run_stylize(runtime, stylize_id) == JobStatus.succeeded
    done = _job(api, stylize_id)
    assert done["result_info"]["method"] == "gan"
    assert done["result_info"]["model_id"] == model_id
    assert done["result_info"]["model_sha256"] == model["sha256"]
    assert done["result_info"]["seed"] == 7
    from app.tables import StyleSetStats

    with api.client.app.state.sessionmaker() as session:
        stats = session.query(StyleSetStats).filter_by(set_id=style_set).all()
    assert [s.model_key for s in stats] == [model["sha256"]]  # precomputed after training


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


def test_a_training_job_whose_set_changed_since_submission_is_refused(api, runtime):
    """The job names the data the admin chose (the set's digest at submission): a set changed
    since is refused with a clear code, not trained on as it is now."""
    from worker.training import run_train

    style_set = _image_set(api, "style", [1, 2, 3])
    admin = api.headers(api.admin_key)
    body = {"style_set_id": style_set, "steps": 2, "image_size": 32, "batch_size": 2}
    job_id = api.client.post("/v1/admin/trainings", headers=admin, json=body).json()["id"]
    out = io.BytesIO()
    Image.new("RGB", (48, 48), (10, 200, 90)).save(out, format="PNG")
    added = api.client.post(
        f"/v1/style-sets/{style_set}/images",
        headers=admin,
        files=[("images", ("new.png", out.getvalue(), "image/png"))],
    )
    assert added.status_code == 200, added.text

    assert run_train(runtime, job_id) == JobStatus.failed
    job = api.client.get(f"/v1/jobs/{job_id}", headers=admin).json()
    assert job["status"] == "failed" and job["error"]["code"] == "style_set_changed", job
    assert api.client.get("/v1/models", headers=admin).json()["data"] == []


def test_a_training_job_reports_every_step_in_order(api, runtime, monkeypatch):
    """Progress as the job's row shows it: with no throttle, each step is written once, in
    order, with the trainer's own checkpoint step; then the evaluation phase."""
    import dataclasses

    from app import crud as crud_module
    from worker.training import run_train

    written = []
    heartbeat = crud_module.heartbeat

    def recording(session, **kwargs):
        if kwargs.get("info") is not None:
            info = kwargs["info"]
            written.append((info.get("phase"), info.get("step"), info.get("checkpoint_step")))
        return heartbeat(session, **kwargs)

    monkeypatch.setattr(crud_module, "heartbeat", recording)
    eager = dataclasses.replace(
        runtime, settings=api.settings.model_copy(update={"cancel_check_interval_s": 0})
    )
    style_set = _image_set(api, "style", [1, 2, 3])
    content_set = _image_set(api, "content", [4, 5, 6, 7])
    body = {
        "style_set_id": style_set,
        "content_set_id": content_set,
        "steps": 3,
        "image_size": 32,
        "batch_size": 2,
        "checkpoint_every": 2,
    }
    admin = api.headers(api.admin_key)
    job_id = api.client.post("/v1/admin/trainings", headers=admin, json=body).json()["id"]
    assert run_train(eager, job_id) == JobStatus.succeeded
    training = [(step, saved) for phase, step, saved in written if phase == "training"]
    # The first write is the job's start, before step 1; then one per step.
    assert training[1:] == [(1, 0), (2, 2), (3, 3)], training
    assert [phase for phase, _, _ in written][-1] == "evaluating"


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
