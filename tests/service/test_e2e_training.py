"""End-to-end training with real API and `celery worker` processes, on both stacks.

- the training queue: an inference-only worker never takes a training job;
- a SIGKILLed training worker's job is re-queued (reaper) and a new worker resumes it from the
  last checkpoint, not from step 0; cancel then stops it and keeps a usable checkpoint;
- the admin flow through the CLI: style set, fine-tuning with a progress bar, registered model
  with metrics and contact sheet, the gate, activation, stylizing with it, rollback.
"""

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

FOREVER = 100_000  # steps: a training job that runs until stopped


def picture(seed: int, size: int = 48) -> bytes:
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    out = io.BytesIO()
    small.resize((size, size), Image.Resampling.BICUBIC).save(out, format="PNG")
    return out.getvalue()


def make_set(client, kind: str, seeds) -> str:
    files = [("images", (f"{kind}{s}.png", picture(s), "image/png")) for s in seeds]
    response = client.post(f"/v1/{kind}-sets", files=files, data={"name": f"{kind} set"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def tiny_training(**overrides) -> dict:
    return {
        "image_size": 32,
        "batch_size": 2,
        "checkpoint_every": 3,
        "preview_every": 3,
        **overrides,
    }


def test_training_queue_resume_after_sigkill_and_cancel_keeps_checkpoint(fresh_stack):
    pytest.importorskip("torch")
    from models.checkpoint import load_checkpoint
    from models.train import TrainConfig, train

    stack = fresh_stack
    stack.start_worker("-Q", "inference")
    with stack.client(stack.admin_key) as admin:
        style_set = make_set(admin, "style", [1, 2, 3])
        content_set = make_set(admin, "content", [4, 5, 6, 7])
        body = tiny_training(style_set_id=style_set, content_set_id=content_set, steps=FOREVER)
        response = admin.post("/v1/admin/trainings", json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]

        # The inference worker runs two stylizations sent after the training job, one after the
        # other. A worker that consumed the training queue would have taken the waiting training
        # message when it fetched its next message after the first (a worker takes its queues in
        # turn, and claiming the job marks it running at once), so the second would not finish
        # while the training job stays queued. No fixed sleep: the second job is the clock.
        for seeds in ((8, 9), (10, 11)):
            stylize = admin.post(
                "/v1/stylizations",
                files={
                    "content": ("c.png", picture(seeds[0])),
                    "style": ("s.png", picture(seeds[1])),
                },
                data={"method": "optimisation"},
            ).json()
            stack.wait_job(admin, stylize["id"], lambda j: j["status"] == "succeeded", timeout=90)
        job = admin.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "queued" and job["attempts"] == 0

        doomed = stack.start_worker("-Q", "training")
        running = stack.wait_job(
            admin,
            job_id,
            lambda j: j["progress_info"].get("checkpoint_step", 0) >= 3,
            timeout=180,
        )
        info = running["progress_info"]
        assert info["total"] == FOREVER and set(info["losses"]) >= {"d", "g", "style"}
        assert running["eta_seconds"] is not None and info["images_per_s"] > 0
        preview = admin.get(f"/v1/admin/trainings/{job_id}/preview")
        assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")
        saved_before_kill = info["checkpoint_step"]

        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
        # The next worker might be on another host: it finds no training folder, only the
        # checkpoint its predecessor copied to storage.
        shutil.rmtree(stack.settings.training_path / job_id)
        stack.start_worker("-Q", "training")
        resumed = stack.wait_job(
            admin,
            job_id,
            lambda j: (
                j["attempts"] == 2
                and j["status"] == "running"
                and j["progress_info"].get("resumed_from_step", 0) > 0
                and j["progress_info"]["step"] > j["progress_info"]["resumed_from_step"]
            ),
            timeout=180,
        )
        # Resumed from the last checkpoint: not from step 0.
        assert resumed["progress_info"]["resumed_from_step"] >= saved_before_kill > 0

        assert admin.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
        canceled = stack.wait_job(admin, job_id, lambda j: j["status"] != "running", timeout=60)
    assert canceled["status"] == "canceled"
    info = canceled["progress_info"]
    assert info["phase"] == "canceled" and info["checkpoint"]
    checkpoint = Path(info["checkpoint"])
    state = load_checkpoint(checkpoint)  # tensors and JSON, nothing unpickled
    assert state["step"] == info["checkpoint_step"] >= resumed["progress_info"]["resumed_from_step"]

    # The kept checkpoint is usable: training continues from it and writes a model.
    config = TrainConfig.from_dict(state["config"])
    config.steps = state["step"] + 1
    root = checkpoint.parent
    trainer = train(
        config, root / "content", root / "style", stack.root / "m.safetensors", resume=checkpoint
    )
    assert trainer.step_count == state["step"] + 1
    assert (stack.root / "m.safetensors").stat().st_size > 0


def _cli(stack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "ATELIER_API_URL": stack.url, "ATELIER_API_KEY": stack.admin_key}
    return subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_admin_flow_fine_tune_gate_activate_stylize_rollback(fresh_stack, tmp_path):
    stack = fresh_stack
    photos = tmp_path / "photos"
    paintings = tmp_path / "paintings"
    for folder, seeds in ((photos, [10, 11, 12, 13]), (paintings, [20, 21, 22, 23])):
        folder.mkdir()
        for s in seeds:
            (folder / f"{s}.png").write_bytes(picture(s))
    (paintings / "copy.png").write_bytes(picture(20))  # an exact duplicate, reported
    # The worker's default content folder (no content set named in the first job).
    stack.start_worker(ATELIER_TRAINING_CONTENT_DIR=str(photos))

    created = _cli(stack, "style-sets", "create", "paintings", str(paintings))
    style_set = _last_line(created)
    assert "exact_duplicate" in created.stdout and "with 4 images" in created.stdout

    # First model from scratch, followed by the CLI's progress bar while we watch the row.
    argv = [
        "trainings", "start", "--style-set", style_set, "--name", "first",
        "--steps", "18", "--image-size", "32", "--batch-size", "2",
        "-p", "checkpoint_every=6", "-p", "preview_every=6", "--interval", "0.2",
    ]  # fmt: skip
    env = {**stack.env, "ATELIER_API_URL": stack.url, "ATELIER_API_KEY": stack.admin_key}
    follower = subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[int] = []
    with stack.client(stack.admin_key) as admin:
        deadline = time.monotonic() + 300
        while follower.poll() is None and time.monotonic() < deadline:
            jobs = admin.get("/v1/jobs", params={"kind": "train"}).json()["data"]
            if jobs and jobs[0]["status"] == "running":
                seen.append(jobs[0]["progress_info"].get("step", 0))
            time.sleep(0.2)
        output = follower.communicate(timeout=60)[0]
        assert follower.returncode == 0, output + stack.all_logs()
        # Whatever the samples caught never went back; that every step is reported, in order,
        # is test_worker's test_a_training_job_reports_every_step_in_order (in-process, exact).
        assert seen == sorted(seen), seen
        trained = admin.get("/v1/jobs", params={"kind": "train"}).json()["data"][0]
        assert trained["progress_info"]["step"] == trained["progress_info"]["total"] == 18
        assert "training" in output and "gate failed (no_baseline)" in output
        first = output.split("model ")[1].split(":")[0]

        model = admin.get(f"/v1/models/{first}").json()
        assert {"content", "style", "kid"} <= set(model["evaluation"])
        assert model["lineage"]["content_set"] == {"dir": str(photos)}
        assert model["lineage"]["style_set"]["id"] == style_set
        sheet = admin.get(model["contact_sheet_url"])
        assert sheet.status_code == 200 and sheet.content.startswith(b"\x89PNG")

        refused = _cli(stack, "models", "activate", first)
        assert refused.returncode == 1 and "gate_failed" in refused.stderr
        forced = _cli(stack, "models", "activate", first, "--force", "--reason", "first model")
        assert forced.returncode == 0, forced.stderr

        # Fine-tuning runs the guard rails from its first validation: an 18-step model's
        # outputs barely depend on the photo, so the job stops with a clear reason.
        body = tiny_training(style_set_id=style_set, base_model_id=first, steps=3, name="ft")
        job = admin.post("/v1/admin/trainings", json=body).json()
        failed = stack.wait_job(admin, job["id"], lambda j: j["status"] != "queued"
                                and j["status"] != "running", timeout=300)  # fmt: skip
        assert failed["status"] == "failed" and failed["error"]["code"] == "mode_collapse"
        assert len(admin.get("/v1/models").json()["data"]) == 1  # nothing registered

        # A second model from scratch while the first is active (without from_scratch it would
        # fine-tune the active one): the gate compares it with the active one on the same
        # held-out pairs, and its verdict follows the scores (pass or fail).
        body = tiny_training(
            style_set_id=style_set, steps=12, name="tuned", seed=3, from_scratch=True
        )
        job = admin.post("/v1/admin/trainings", json=body).json()
        done = stack.wait_job(admin, job["id"], lambda j: j["status"] != "queued"
                              and j["status"] != "running", timeout=300)  # fmt: skip
        assert done["status"] == "succeeded", done
        tuned = admin.get(f"/v1/models/{done['result_info']['model_id']}").json()
        ev, base = tuned["evaluation"], tuned["evaluation"]["baseline"]
        assert base["model_id"] == first and tuned["gate"]["baseline_model_id"] == first
        expected = ev["style"] < base["style"] and ev["content"] <= base["content"] * 1.05
        assert tuned["gate"]["passed"] is expected
        activate = ["models", "activate", tuned["id"]]
        if not expected:
            activate += ["--force", "--reason", "tiny test run"]
        assert _cli(stack, *activate).returncode == 0

        # Stylize with the style set: the active (tuned) model, its version and seed recorded.
        response = admin.post(
            "/v1/stylizations",
            files={"content": ("c.png", picture(30, 64))},
            data={"style_set_id": style_set, "seed": "5"},
            # The worker's first job on a newly activated model exports its render graph.
            headers={"Prefer": "wait=100"},
            timeout=120,
        )
        result = stack.wait_job(admin, response.json()["id"], lambda j: j["status"] != "queued"
                                and j["status"] != "running", timeout=90)  # fmt: skip
        assert result["status"] == "succeeded", result
        assert result["result_info"]["model_id"] == tuned["id"]
        assert result["result_info"]["model_sha256"] == tuned["sha256"]
        assert result["result_info"]["method"] == "gan" and result["result_info"]["seed"] == 5
        assert admin.get(result["result_url"]).content.startswith(b"\x89PNG")

        rolled = _cli(stack, "models", "rollback")
        assert f"active model: {first}" in rolled.stdout, rolled.stdout + rolled.stderr
        listing = _cli(stack, "models", "list").stdout
        assert f"* {first}" in listing and f"  {tuned['id']}" in listing
        log = admin.get("/v1/models/activations").json()["data"]
        assert [(a["action"], a["model_id"]) for a in log] == [
            ("rollback", first),
            ("activate", tuned["id"]),
            ("activate", first),
        ]
        assert log[2]["forced"] is True and log[2]["reason"] == "first model"
