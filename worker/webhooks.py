"""Webhooks: a finished job is POSTed to its `webhook_url`, signed as Standard Webhooks sign:
`v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")), retried with back-off."""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time

from app import crud
from app.config import Settings
from app.presenters import campaign_public, job_public
from app.tables import Campaign, Job
from worker.runtime import Runtime

log = logging.getLogger("atelier.worker.webhooks")

SECRET_PREFIX = "whsec_"


def secret_bytes(settings: Settings) -> bytes:
    """The signing secret: ATELIER_WEBHOOK_SECRET, or one generated once into the data folder."""
    if settings.webhook_secret is not None:
        value = settings.webhook_secret.get_secret_value()
    else:
        path = settings.data_dir / "webhook_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode())
            path.chmod(0o600)
        value = path.read_text().strip()
    return base64.b64decode(value.removeprefix(SECRET_PREFIX))


def sign(settings: Settings, message_id: str, timestamp: int, body: str) -> str:
    payload = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_bytes(settings), payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def message(job: Job) -> tuple[str, str]:
    """The message's id and its JSON body: the job as `GET /v1/jobs/{id}` shows it."""
    body = json.dumps(
        {"type": f"job.{job.status.value}", "data": job_public(job).model_dump(mode="json")},
        separators=(",", ":"),
    )
    return f"{job.id}.{job.status.value}", body


def post(settings: Settings, url: str, message_id: str, body: str) -> str | None:
    """POST the signed message; None when the receiver took it (2xx), else what went wrong."""
    import httpx

    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(settings, message_id, timestamp, body),
    }
    try:
        response = httpx.post(
            url, content=body, headers=headers, timeout=settings.webhook_timeout_s
        )
    except httpx.HTTPError as exc:
        return str(exc)
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def deliver(rt: Runtime, job_id: str, attempt: int) -> float | None:
    """Deliver a finished job's webhook (attempt number `attempt`) and record the outcome.

    Returns the seconds to wait before the next attempt, or None when there is none to make
    (delivered, given up after ATELIER_WEBHOOK_MAX_ATTEMPTS, or nothing to deliver).
    """
    with rt.sessions() as session:
        job = crud.get_job(session, job_id=job_id)
        if job is None or not job.webhook_url or job.webhook_status == "delivered":
            return None
        url = job.webhook_url
        message_id, body = message(job)
    return _post_and_record(rt, Job, job_id, url, message_id, body, attempt)


def retry_in(settings: Settings, what: str, error: str | None, attempt: int) -> float | None:
    """Seconds before the next attempt (exponential back-off), or None: delivered, or given up
    after ATELIER_WEBHOOK_MAX_ATTEMPTS."""
    if error is None or attempt >= settings.webhook_max_attempts:
        return None
    log.warning("webhook for %s failed (%s); retry %d", what, error, attempt)
    return settings.webhook_backoff_s * 2 ** (attempt - 1)


def deliver_campaign(rt: Runtime, campaign_id: str, attempt: int) -> float | None:
    """Deliver an ended campaign's one webhook (`campaign.<status>`, the campaign as `GET
    /v1/campaigns/{id}` shows it), as `deliver` does a job's."""
    with rt.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or not campaign.webhook_url or campaign.webhook_status == "delivered":
            return None
        url = campaign.webhook_url
        public = campaign_public(campaign, crud.campaign_children(session, campaign_id=campaign_id))
    body = json.dumps(
        {"type": f"campaign.{public.status.value}", "data": public.model_dump(mode="json")},
        separators=(",", ":"),
    )
    message_id = f"{campaign_id}.{public.status.value}"
    return _post_and_record(rt, Campaign, campaign_id, url, message_id, body, attempt)


def _post_and_record(
    rt: Runtime,
    table: type[Job] | type[Campaign],
    row_id: str,
    url: str,
    message_id: str,
    body: str,
    attempt: int,
) -> float | None:
    """POST one attempt, record its outcome on the row, and say when to try again."""
    settings = rt.settings
    error = post(settings, url, message_id, body)
    with rt.sessions() as session:
        crud.record_webhook_attempt(
            session,
            table=table,
            row_id=row_id,
            attempt=attempt,
            delivered=error is None,
            max_attempts=settings.webhook_max_attempts,
        )
    return retry_in(settings, f"{table.__name__.lower()} {row_id}", error, attempt)
