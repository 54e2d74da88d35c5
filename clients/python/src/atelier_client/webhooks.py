"""Checking a webhook the service sent, as Standard Webhooks (standardwebhooks.com) define it.

The service signs `"{webhook-id}.{webhook-timestamp}.{body}"` with HMAC-SHA256 under the
secret (`whsec_` + base64, the service's ATELIER_WEBHOOK_SECRET or its generated
`webhook_secret` file) and sends `v1,<base64 signature>` in `webhook-signature`. A receiver
verifies before it trusts the body, and refuses an old timestamp, so that a captured delivery
cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from atelier_client.errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300  # the Standard Webhooks libraries' default


def _key(secret: str | bytes) -> bytes:
    """The HMAC key: bytes as they are; text as `whsec_<base64>` (the prefix optional)."""
    if isinstance(secret, bytes):
        return secret
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc


def sign_webhook(secret: str | bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value the service sends for this message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return (
        "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
    )


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str | bytes,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> dict[str, Any]:
    """The webhook's JSON payload (`{"type": "job.succeeded", "data": {...job...}}`) once its
    signature and timestamp hold; else `WebhookVerificationError` (code `webhook_headers`,
    `webhook_timestamp` or `webhook_signature`). `headers` as received (any case), `body` the
    raw bytes: parsing and re-serialising JSON first would change what was signed."""
    lower = {name.lower(): value for name, value in headers.items()}
    message_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not message_id or not stamp or not signatures:
        raise WebhookVerificationError(
            "webhook-id, webhook-timestamp and webhook-signature are required",
            code="webhook_headers",
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(
            f"webhook-timestamp {stamp!r} is not a number", code="webhook_timestamp"
        ) from None
    if abs(time.time() - timestamp) > tolerance_s:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance_s:g} s from now (a replay?)",
            code="webhook_timestamp",
        )
    raw = body.encode() if isinstance(body, str) else body
    expected = sign_webhook(secret, message_id, timestamp, raw).encode()
    # Several space-separated signatures may come (during a secret's rotation): one must match.
    if not any(hmac.compare_digest(expected, given.encode()) for given in signatures.split()):
        raise WebhookVerificationError(
            "no signature matches the body under this secret", code="webhook_signature"
        )
    payload: dict[str, Any] = json.loads(raw)
    return payload
