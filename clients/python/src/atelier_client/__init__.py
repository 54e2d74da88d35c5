"""atelier-client: the Python client of the Atelier style-transfer API.

from atelier_client import Client
client = Client("http://127.0.0.1:8000", api_key="atl_...")
job = client.stylize("photo.jpg", style="painting.png")
job.save("stylized.png")
"""

from atelier_client.async_client import AsyncClient
from atelier_client.client import Client
from atelier_client.errors import (
    APIConnectionError,
    AtelierError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    InvalidInputError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryLaterError,
    ServerError,
    ServiceUnavailableError,
    TooLargeError,
    UnsupportedFormatError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from atelier_client.jobs import AsyncJob, Job
from atelier_client.options import (
    StyledRegion,
    StylizationOptions,
    TrainingSettings,
    VideoOptions,
)
from atelier_client.schemas import (
    Activation,
    Campaign,
    ErrorInfo,
    JobPage,
    JobSnapshot,
    KeyInfo,
    Model,
    Style,
    StyleCredit,
)
from atelier_client.webhooks import verify_webhook

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "Activation",
    "AsyncClient",
    "AsyncJob",
    "AtelierError",
    "AuthenticationError",
    "BadRequestError",
    "Campaign",
    "Client",
    "ConflictError",
    "ErrorInfo",
    "GoneError",
    "InvalidInputError",
    "Job",
    "JobFailedError",
    "JobPage",
    "JobSnapshot",
    "KeyInfo",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryLaterError",
    "ServerError",
    "ServiceUnavailableError",
    "Style",
    "StyleCredit",
    "StyledRegion",
    "StylizationOptions",
    "TooLargeError",
    "TrainingSettings",
    "UnsupportedFormatError",
    "VideoOptions",
    "WaitTimeoutError",
    "WebhookVerificationError",
    "verify_webhook",
]
