"""Campaigns over real HTTP with a real worker, on both stacks: photos x styles become child
jobs, the zip holds every result at the format's size, one webhook says when it ended, cancel
stops the rest, and bad campaigns are refused with nothing stored."""

import io
import json
import os
import signal
import time
import zipfile

import pytest
from PIL import Image
from service_helpers import WebhookReceiver, gradient_png


def _wait_campaign(stack, client, campaign_id: str, until, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    campaign: dict = {}
    while time.monotonic() < deadline:
        campaign = client.get(f"/v1/campaigns/{campaign_id}").json()
        if until(campaign):
            return campaign
        time.sleep(0.1)
    raise AssertionError(f"campaign never got there; last: {campaign}\n{stack.all_logs()}")


def _photos(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("photos", (f"shot {i}.png", gradient_png((90, 60), i), "image/png")) for i in range(n)]


@pytest.mark.e2e
def test_a_campaign_of_5_photos_x_2_styles_gives_10_results_and_one_zip(running_stack) -> None:
    stack = running_stack
    receiver = WebhookReceiver()
    try:
        with stack.client() as client:
            saved = client.post(
                "/v1/styles", files={"image": ("blue.png", gradient_png((40, 40), 9), "image/png")}
            ).json()
            files = [*_photos(5), ("styles", ("red.png", gradient_png((40, 40), 3), "image/png"))]
            data = {
                "name": "Spring sale",
                "style_ids": json.dumps([saved["id"]]),
                "method": "optimisation",
                "output_size": "64x48",
                "output_format": "jpeg",
                "regions": json.dumps([{"keep_boxes": [[0, 0, 0.5, 0.5]]}]),
                "webhook_url": receiver.url,
            }
            headers = {"Idempotency-Key": f"campaign-{stack.name}"}
            response = client.post("/v1/campaigns", files=files, data=data, headers=headers)
            assert response.status_code == 202, response.text
            campaign = response.json()
            assert response.headers["location"] == f"/v1/campaigns/{campaign['id']}"
            assert campaign["total"] == 10 and len(campaign["children"]) == 10
            # The same Idempotency-Key gives the same campaign, not ten more jobs.
            again = client.post("/v1/campaigns", files=files, data=data, headers=headers)
            assert again.json()["id"] == campaign["id"]
            assert again.headers["idempotent-replayed"] == "true"

            done = _wait_campaign(stack, client, campaign["id"], lambda c: c["finished_at"])
            assert done["status"] == "succeeded", done
            assert done["counts"]["succeeded"] == 10 and done["progress"] == 1.0
            children = done["children"]
            assert {
                (c["parameters"]["campaign_photo"], c["parameters"]["campaign_style"])
                for c in children
            } == {(p, s) for p in range(5) for s in range(2)}
            # Per-photo regions: only the first photo's children keep a box.
            assert [c["parameters"]["keep_boxes"] is not None for c in children] == [
                True,
                True,
                *[False] * 8,
            ]

            archive = client.get(done["archive_url"])
            assert archive.status_code == 200
            assert archive.headers["content-type"] == "application/zip"
            with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
                names = zipped.namelist()
                sizes = {Image.open(io.BytesIO(zipped.read(n))).size for n in names[1:]}
            assert names[0] == "CREDITS.txt"  # each style's credit (test_labels)
            names = names[1:]
            assert len(names) == len(set(names)) == 10
            assert names[0] == f"001-shot-0__{saved['id']}.jpg" and names[1].endswith("__red.jpg")
            assert sizes == {(64, 48)}

            # The worker records the delivery once the receiver has answered: wait for that.
            final = _wait_campaign(
                stack, client, campaign["id"], lambda c: c["webhook_status"] == "delivered", 30
            )
    finally:
        receiver.server.shutdown()
    # One webhook for the whole campaign (the children have none of their own).
    assert [m["type"] for m in receiver.payloads()] == ["campaign.succeeded"]
    assert receiver.payloads()[0]["data"]["counts"]["succeeded"] == 10
    assert final["webhook_status"] == "delivered"


@pytest.mark.e2e
def test_cancel_stops_the_children_not_yet_run(running_stack) -> None:
    stack = running_stack
    with stack.client() as client:
        response = client.post(
            "/v1/campaigns",
            files=[*_photos(12), ("styles", ("s.png", gradient_png((40, 40), 4), "image/png"))],
            data={"method": "optimisation", "output_size": "256x256"},
        )
        assert response.status_code == 202, response.text
        campaign = response.json()
        canceled = client.post(f"/v1/campaigns/{campaign['id']}/cancel")
        assert canceled.status_code == 200
        done = _wait_campaign(stack, client, campaign["id"], lambda c: c["finished_at"])
    assert done["status"] == "canceled"
    counts = done["counts"]
    assert counts["canceled"] >= 1 and counts["queued"] == counts["running"] == 0
    assert counts["canceled"] + counts["succeeded"] == 12


def _running_child(campaign: dict) -> bool:
    return any(c["status"] == "running" and c["progress"] > 0 for c in campaign["children"])


def _deliveries(receiver: WebhookReceiver, n: int) -> list[str]:
    """The webhook types received, once `n` came (or 30 s passed), and a moment more for a
    second that should not come."""
    deadline = time.monotonic() + 30
    while len(receiver.received) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # a duplicate would follow at once (same reaper pass or worker)
    return [m["type"] for m in receiver.payloads()]


@pytest.mark.e2e
def test_a_sigkilled_worker_mid_campaign_still_ends_with_every_child_once(fresh_stack) -> None:
    """The worker is killed while a child runs (some already done): the reaper re-queues that
    child, a new worker finishes the rest; each child succeeds once, the campaign ends once."""
    stack = fresh_stack
    receiver = WebhookReceiver()
    doomed = stack.start_worker(ATELIER_OPTIMISATION_STEPS="150")  # about a second a child
    try:
        with stack.client() as client:
            response = client.post(
                "/v1/campaigns",
                files=[
                    *_photos(5),
                    ("styles", ("a.png", gradient_png((40, 40), 5), "image/png")),
                    ("styles", ("b.png", gradient_png((40, 40), 6), "image/png")),
                ],
                data={"method": "optimisation", "webhook_url": receiver.url},
            )
            assert response.status_code == 202, response.text
            campaign = response.json()
            _wait_campaign(
                stack,
                client,
                campaign["id"],
                lambda c: c["counts"]["succeeded"] >= 2 and _running_child(c),
            )
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait()
            killed = client.get(f"/v1/campaigns/{campaign['id']}").json()
            stack.start_worker()  # normal (short) settings
            done = _wait_campaign(stack, client, campaign["id"], lambda c: c["finished_at"])
            archive = client.get(done["archive_url"])
        types = _deliveries(receiver, 1)
    finally:
        receiver.server.shutdown()
    assert done["status"] == "succeeded", done
    assert done["counts"]["succeeded"] == 10
    # None twice: the child running at the kill ran a second time; every other child once
    # (those done before the kill were not run again).
    cut = [c["id"] for c in killed["children"] if c["status"] == "running"]
    before = {c["id"]: c for c in killed["children"] if c["status"] == "succeeded"}
    attempts = {c["id"]: c["attempts"] for c in done["children"]}
    assert len(cut) == 1 and attempts[cut[0]] == 2, (cut, attempts)
    assert all(n == 1 for job_id, n in attempts.items() if job_id != cut[0]), attempts
    for child in done["children"]:
        if child["id"] in before:
            assert child["finished_at"] == before[child["id"]]["finished_at"]
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        names = [n for n in zipped.namelist() if n != "CREDITS.txt"]
    assert len(names) == len(set(names)) == 10
    assert types == ["campaign.succeeded"]  # the campaign ended once


@pytest.mark.e2e
def test_a_child_failed_by_the_reaper_still_ends_its_campaign(stack_with) -> None:
    """No worker finishes a child the reaper fails (its worker died on its last attempt):
    the reaper itself ends the campaign, and its one webhook goes out."""
    receiver = WebhookReceiver()
    try:
        with stack_with(ATELIER_MAX_ATTEMPTS="1") as stack:
            doomed = stack.start_worker(ATELIER_OPTIMISATION_STEPS="1000000")  # never ends
            with stack.client() as client:
                response = client.post(
                    "/v1/campaigns",
                    files=[
                        *_photos(1),
                        ("styles", ("s.png", gradient_png((40, 40), 2), "image/png")),
                    ],
                    data={"method": "optimisation", "webhook_url": receiver.url},
                )
                assert response.status_code == 202, response.text
                campaign = response.json()
                _wait_campaign(stack, client, campaign["id"], _running_child)
                os.kill(doomed.pid, signal.SIGKILL)
                doomed.wait()
                done = _wait_campaign(stack, client, campaign["id"], lambda c: c["finished_at"])
            stack.start_worker()  # webhooks are delivered by a worker
            types = _deliveries(receiver, 1)
            api_log = stack.logs("api.log")
    finally:
        receiver.server.shutdown()
    assert done["status"] == "failed", done
    assert done["children"][0]["error"]["code"] == "worker_lost"
    assert types == ["campaign.failed"]
    assert f"ended campaign {campaign['id']}" in api_log


_STYLE = [("styles", ("s.png", gradient_png((20, 20), 1), "image/png"))]
_BAD_PHOTO = [("photos", ("bad.png", b"not an image", "image/png"))]
# (fields, files, status, code)
BAD_CAMPAIGNS = [
    ({}, _STYLE, 422, "missing_field"),  # no photos
    ({}, _photos(1), 422, "style_required"),  # no style
    ({"style_ids": '["nope"]'}, _photos(1), 404, "style_not_found"),
    ({"regions": '[{"keep_boxes": [[0, 0, 2, 1]]}]'}, _photos(1) + _STYLE, 422, "box_outside"),
    ({"regions": "[1, 2]"}, _photos(2) + _STYLE, 422, "invalid_parameter"),
    ({"output_size": "5x5"}, _photos(1) + _STYLE, 422, "invalid_size"),
    ({}, _photos(1) + _BAD_PHOTO + _STYLE, 415, "unsupported_format"),
]


@pytest.mark.parametrize(("fields", "files", "status", "code"), BAD_CAMPAIGNS)
def test_a_bad_campaign_is_refused_and_stores_nothing(api, fields, files, status, code) -> None:
    before = api.state()
    response = api.client.post(
        "/v1/campaigns",
        headers=api.headers(),
        files=files,
        data={"method": "optimisation", **fields},
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert api.state() == before


def test_too_many_photos_is_a_422(api_with) -> None:
    with api_with(max_campaign_photos=2) as api:
        before = api.state()
        response = api.client.post(
            "/v1/campaigns",
            headers=api.headers(),
            files=[*_photos(3), ("styles", ("s.png", gradient_png((20, 20), 1), "image/png"))],
            data={"method": "optimisation"},
        )
        assert response.status_code == 422 and response.json()["error"]["code"] == (
            "too_many_photos"
        )
        assert api.state() == before
