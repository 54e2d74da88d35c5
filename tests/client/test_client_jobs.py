"""The client against a served API with a real worker, on each stack: stylize and wait, submit
and poll with a progress callback, a campaign, the asyncio client, and a webhook verified (a
tampered one refused)."""

import asyncio
import io
import zipfile
from pathlib import Path

import httpx
import pytest
from atelier_client import AsyncClient, Client, WebhookVerificationError, verify_webhook
from PIL import Image


def _recording_http(seen: list[str]) -> httpx.Client:
    """An httpx client that notes each request it sends ("POST /v1/stylizations")."""
    return httpx.Client(
        timeout=60,
        event_hooks={"request": [lambda r: seen.append(f"{r.method} {r.url.path}")]},
    )


def test_stylize_waits_in_one_request_and_saves_the_result(stack, photo, painting, tmp_path):
    sent: list[str] = []
    with _recording_http(sent) as http:
        client = Client(stack.url, stack.user_key, http_client=http)
        job = client.stylize(photo, style=painting, method="optimisation", output_format="png")
        assert sent == ["POST /v1/stylizations"]  # `Prefer: wait`: no polling for a fast job
        assert job.status == "succeeded" and job.result_url == f"/v1/jobs/{job.id}/result"
        saved = job.save(tmp_path / "stylized.png")
        downloaded = job.download()

    assert saved == tmp_path / "stylized.png" and saved.read_bytes() == downloaded
    assert list(tmp_path.iterdir()) == [saved]  # streamed through a `.part` file, renamed
    result = Image.open(saved)
    assert result.format == "PNG" and result.size == (48, 40)  # the photo's size


def test_submit_then_wait_sees_progress_until_the_job_succeeds(stack, photo, painting):
    with Client(stack.url, stack.user_key, poll_interval=0.05) as client:
        job = client.stylize(photo, style=painting, method="optimisation", wait=False)
        assert job.status == "queued" and not job.finished
        seen = []
        done = job.wait(timeout=120, progress=seen.append)

        assert done.status == "succeeded" and done.id == job.id
        assert seen[-1] == done and all(s.id == job.id for s in seen)
        assert [s.percent for s in seen] == sorted(s.percent for s in seen)
        assert len({(s.status, s.percent) for s in seen}) == len(seen)  # changes only
        assert done.download()[:8] == b"\x89PNG\r\n\x1a\n"
        listed = client.jobs.list(status="succeeded", limit=100)
        assert job.id in [j.id for j in listed.data]
        assert job.id in [j.id for j in client.jobs.iterate(kind="stylize")]


def test_a_campaign_runs_and_its_archive_holds_every_result(stack, make_photo, painting):
    photos = [make_photo((50, 30), seed) for seed in (5, 6)]
    with Client(stack.url, stack.user_key, poll_interval=0.1) as client:
        campaign = client.campaigns.create(
            photos, styles=[painting], name="spring", method="optimisation", output_size="64x48"
        )
        assert campaign.total == 2 and campaign.name == "spring"
        seen = []
        done = client.campaigns.wait(campaign.id, timeout=180, progress=seen.append)
        archive = zipfile.ZipFile(io.BytesIO(client.campaigns.archive(campaign.id)))

    assert done.status == "succeeded" and done.counts["succeeded"] == 2
    assert seen[-1] == done
    names = [n for n in archive.namelist() if n != "CREDITS.txt"]
    assert len(names) == 2 and "CREDITS.txt" in archive.namelist()
    assert {Image.open(io.BytesIO(archive.read(n))).size for n in names} == {(64, 48)}


def test_the_async_client_stylizes_downloads_and_saves(stack, photo, painting, tmp_path):
    async def stylize() -> tuple[str, bytes, Path]:
        async with AsyncClient(stack.url, stack.user_key, poll_interval=0.05) as client:
            job = await client.stylize(photo, style=painting, method="optimisation", wait=False)
            done = await job.wait(timeout=120)
            return done.status, await done.download(), await done.save(tmp_path / "out.png")

    status, image, saved = asyncio.run(stylize())
    assert status == "succeeded" and Image.open(io.BytesIO(image)).size == (48, 40)
    assert saved.read_bytes() == image and list(tmp_path.iterdir()) == [saved]


def test_a_webhook_verifies_and_a_tampered_one_is_refused(
    stack, photo, painting, webhook_receiver, signing_secret, wait_until
):
    with Client(stack.url, stack.user_key) as client:
        job = client.stylize(
            photo, style=painting, method="optimisation", webhook_url=webhook_receiver.url
        )
    wait_until(lambda: webhook_receiver.received, 30, "no webhook was delivered")
    headers, body, _ = webhook_receiver.received[0]
    secret = signing_secret

    payload = verify_webhook(headers, body, secret)
    assert payload["type"] == "job.succeeded" and payload["data"]["id"] == job.id

    forged = body.replace(b'"succeeded"', b'"failed"', 1)
    assert forged != body
    wrong_secret = "whsec_" + "A" * 44
    old = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)}
    missing = {k: v for k, v in headers.items() if k != "webhook-signature"}
    for args, code in [
        ((headers, forged, secret), "webhook_signature"),
        ((headers, body, wrong_secret), "webhook_signature"),
        ((old, body, secret), "webhook_timestamp"),
        ((missing, body, secret), "webhook_headers"),
    ]:
        with pytest.raises(WebhookVerificationError) as refused:
            verify_webhook(*args)
        assert refused.value.code == code and refused.value.status is None


def test_a_painting_uploaded_with_its_credit_is_listed_with_it(idle_stack, painting):
    with Client(idle_stack.url, idle_stack.user_key) as client:
        saved = client.styles.upload(
            painting, name="wheat", title="Wheat Field", artist="Jo Painter", licence="CC BY 4.0"
        )
        listed = {s.id: s for s in client.styles.list()}
    assert saved.credit.title == "Wheat Field" and saved.credit.declared_by == "uploader"
    assert listed[saved.id].credit == saved.credit
    assert (saved.credit.artist, saved.credit.licence, saved.credit.source_url) == (
        "Jo Painter",
        "CC BY 4.0",
        None,
    )
