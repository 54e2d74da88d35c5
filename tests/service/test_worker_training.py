"""The train task's contract, run in-process on a real job store, storage and encoder: a training
registers a gated model (lineage, evaluation, contact sheet) that then stylizes with its style
set, a set changed since submission is refused, and every step's progress is written in order."""

import io

import pytest
from in_process_worker import job_view as _job
from in_process_worker import solid_png as _png
from PIL import Image

from app.tables import JobStatus

pytest.importorskip("torch")


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
