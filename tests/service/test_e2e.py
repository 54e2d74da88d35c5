"""End-to-end: real HTTP to a uvicorn process, a real `celery worker` process, a real database
and broker, on the embedded stack and on Redis + PostgreSQL."""

import base64
import hashlib
import hmac
import io
import json
import time

import pytest
from PIL import Image
from service_helpers import WebhookReceiver, gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.every_broker]


def test_submit_poll_and_download_a_real_result(running_stack) -> None:
    stack = running_stack
    with stack.client() as client:
        response = client.post(
            "/v1/stylizations",
            files={
                "content": ("photo.png", gradient_png((80, 60), 1), "image/png"),
                "style": ("style.png", gradient_png((48, 48), 2), "image/png"),
            },
            data={"output_format": "jpeg", "strength": "0.8", "method": "optimisation"},
        )
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/v1/jobs/{job['id']}"
        assert job["status"] == "queued"

        done = stack.wait_job(client, job["id"], lambda j: j["status"] in ("succeeded", "failed"))
        assert done["status"] == "succeeded", done
        assert done["progress"] == 1.0 and done["percent"] == 100
        assert done["attempts"] == 1
        assert done["result_info"]["method"] == "optimisation"
        assert done["result_info"]["untrained"] is True  # ATELIER_ENCODER=random: labelled as such

        result = client.get(done["result_url"])
        assert result.status_code == 200
        assert result.headers["content-type"] == "image/jpeg"
        assert "max-age" in result.headers["cache-control"]
        image = Image.open(io.BytesIO(result.content))
        assert image.format == "JPEG" and image.size == (80, 60)

        listed = client.get("/v1/jobs", params={"status": "succeeded"}).json()
        assert job["id"] in [j["id"] for j in listed["data"]]

    with stack.client(stack.admin_key) as admin:
        metrics = admin.get("/metrics").text
    assert 'atelier_jobs{status="succeeded"} 1.0' in metrics
    assert "atelier_job_latency_seconds_count 1.0" in metrics


def test_prefer_wait_returns_the_finished_job(running_stack) -> None:
    with running_stack.client() as client:
        response = client.post(
            "/v1/stylizations",
            files={
                "content": ("a.png", gradient_png((40, 40), 3), "image/png"),
                "style": ("b.png", gradient_png((40, 40), 4), "image/png"),
            },
            data={"method": "optimisation"},
            headers={"Prefer": "wait=30"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert response.headers["preference-applied"] == "wait=30"


def test_readyz_sees_database_and_broker(running_stack) -> None:
    import httpx

    body = httpx.get(running_stack.url + "/readyz").json()
    assert body == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


def test_webhook_is_signed_and_retried(running_stack, webhook_secret) -> None:
    receiver = WebhookReceiver(fail_first=True)
    try:
        with running_stack.client() as client:
            job = client.post(
                "/v1/stylizations",
                files={
                    "content": ("a.png", gradient_png((32, 32), 5), "image/png"),
                    "style": ("b.png", gradient_png((32, 32), 6), "image/png"),
                },
                data={"webhook_url": receiver.url, "method": "optimisation"},
            ).json()
            done = running_stack.wait_job(
                client, job["id"], lambda j: j["webhook_status"] in ("delivered", "failed")
            )
    finally:
        receiver.server.shutdown()
    assert done["webhook_status"] == "delivered" and len(receiver.received) == 2
    (first_headers, first_body, t1), (headers, body, t2) = receiver.received
    assert t2 - t1 >= 0.25  # back-off between attempts (ATELIER_WEBHOOK_BACKOFF_S=0.3)
    assert headers["webhook-id"] == first_headers["webhook-id"]  # same message, retried
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(webhook_secret, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    payload = json.loads(body)
    assert payload["type"] == "job.succeeded" and payload["data"]["id"] == job["id"]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 120
