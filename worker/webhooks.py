"""Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))."""

import base64
import hashlib
import hmac
import secrets

from app.config import Settings

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
