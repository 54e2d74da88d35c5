"""End-to-end failure handling: cancel a running job, and SIGKILL a worker mid-job.

What guarantees a killed worker's job never stays `running`: the worker heartbeats its job
row; the reaper in the API process re-queues a running job whose heartbeat is older than
ATELIER_HEARTBEAT_TIMEOUT_S (here 4 s) and re-sends its task, whatever the broker did with the
original message (kombu's SQL transport keeps it hidden forever; Redis would redeliver it only
after the visibility timeout, when the job is finished and the task does nothing).
"""

import io
import os
import signal
import time

import pytest
from PIL import Image

pytestmark = [pytest.mark.e2e, pytest.mark.every_broker]

ENDLESS = {"ATELIER_OPTIMISATION_STEPS": "1000000"}  # a job that runs until stopped


def _png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 40), color).save(out, format="PNG")
    return out.getvalue()


def _submit(client) -> dict:
    response = client.post(
        "/v1/stylizations",
        files={
            "content": ("c.png", _png((200, 100, 50)), "image/png"),
            "style": ("s.png", _png((20, 40, 220)), "image/png"),
        },
        data={"method": "optimisation"},
    )
    assert response.status_code == 202, response.text
    return response.json()


def _running_with_progress(job: dict) -> bool:
    return job["status"] == "running" and job["progress"] > 0


def test_cancel_running_job_then_survive_a_sigkilled_worker(fresh_stack) -> None:
    """One worker start serves both checks: starting workers dominates this test's time."""
    stack = fresh_stack
    doomed = stack.start_worker(**ENDLESS)
    with stack.client() as client:
        # A running job stops at its next progress check once canceled.
        job = _submit(client)
        running = stack.wait_job(client, job["id"], _running_with_progress)
        assert running["eta_seconds"] is not None
        response = client.post(f"/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 200 and response.json()["cancel_requested"] is True
        canceled = stack.wait_job(client, job["id"], lambda j: j["status"] != "running", timeout=30)
        assert canceled["status"] == "canceled"
        assert client.get(f"/v1/jobs/{job['id']}/result").status_code == 409

        # A job whose worker is SIGKILLed mid-run is re-queued and finishes on a new worker.
        job = _submit(client)
        stack.wait_job(client, job["id"], _running_with_progress)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
        stack.start_worker()  # normal (short) settings
        done = stack.wait_job(
            client, job["id"], lambda j: j["status"] in ("succeeded", "failed"), timeout=120
        )
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2  # the killed run, then the re-queued one
    assert "re-sent job" in stack.logs("api.log")


def test_two_workers_on_one_host_both_come_up_and_serve(fresh_stack) -> None:
    """Two workers started on one host both come up and stay up while jobs run: each has a node
    name of its own (on RabbitMQ the second used to die at start, its remote-control queue taken:
    RESOURCE_LOCKED, leaving one worker where two were started)."""
    stack = fresh_stack
    workers = [stack.start_worker(), stack.start_worker()]
    deadline = time.monotonic() + 120
    while not all(" ready." in stack.logs(f"worker{i}.log") for i in range(2)):
        assert all(w.poll() is None for w in workers), stack.all_logs()
        assert time.monotonic() < deadline, stack.all_logs()
        time.sleep(0.1)
    with stack.client() as client:
        jobs = [_submit(client) for _ in range(4)]
        for job in jobs:
            done = stack.wait_job(
                client, job["id"], lambda j: j["status"] in ("succeeded", "failed")
            )
            assert done["status"] == "succeeded", done
    assert all(w.poll() is None for w in workers), stack.all_logs()
