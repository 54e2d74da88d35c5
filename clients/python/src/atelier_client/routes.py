"""Every route the client calls, with what it sends and what it expects back: the one place
that says how the client reads the API, checked against the service's OpenAPI schema by
`tests/client/test_schema_agreement.py` (a renamed field or path fails there, not in use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_type_hints
from urllib.parse import quote

from atelier_client import schemas
from atelier_client.options import (
    CampaignFields,
    StylizationOptions,
    TrainingSettings,
    VideoOptions,
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a template: "/v1/jobs/{job_id}"
    status: int  # the success status
    answers: type | None = None  # the dataclass of the JSON body; None: bytes or nothing
    listed: bool = False  # the body is `{"data": [answers...]}`
    query: frozenset[str] = frozenset()
    form: frozenset[str] = frozenset()  # multipart fields, files included
    json: frozenset[str] = frozenset()  # JSON body fields
    headers: frozenset[str] = field(default_factory=frozenset)  # lower case

    def url(self, **ids: str) -> str:
        """The path with its ids filled in (quoted: an id never reaches another route)."""
        return self.path.format(**{name: quote(value, safe="") for name, value in ids.items()})


def _names(typed_dict: type) -> frozenset[str]:
    return frozenset(get_type_hints(typed_dict))


IDEMPOTENT_SUBMIT = frozenset({"idempotency-key"})

STYLIZE = Route(
    "POST",
    "/v1/stylizations",
    202,
    schemas.JobSnapshot,
    form=frozenset(
        {"content", "style", "mask", "masks", "regions"}
        | {"style_id", "style_set_id", "style_set_image_id"}
    )
    | _names(StylizationOptions),
    headers=IDEMPOTENT_SUBMIT | {"prefer"},
)
CREATE_VIDEO = Route(
    "POST",
    "/v1/videos",
    202,
    schemas.JobSnapshot,
    form=frozenset({"video", "style", "style_id"}) | _names(VideoOptions),
    headers=IDEMPOTENT_SUBMIT | {"prefer"},
)
LIST_JOBS = Route(
    "GET",
    "/v1/jobs",
    200,
    schemas.JobSnapshot,
    listed=True,
    query=frozenset({"status", "kind", "cursor", "limit"}),
)
GET_JOB = Route("GET", "/v1/jobs/{job_id}", 200, schemas.JobSnapshot)
CANCEL_JOB = Route("POST", "/v1/jobs/{job_id}/cancel", 200, schemas.JobSnapshot)
JOB_RESULT = Route("GET", "/v1/jobs/{job_id}/result", 200)
JOB_POSTER = Route("GET", "/v1/jobs/{job_id}/poster", 200)
DELETE_JOB_FILES = Route("DELETE", "/v1/jobs/{job_id}/files", 200, schemas.JobSnapshot)

LIST_STYLES = Route("GET", "/v1/styles", 200, schemas.Style, listed=True)
GET_STYLE = Route("GET", "/v1/styles/{style_id}", 200, schemas.Style)
UPLOAD_STYLE = Route(
    "POST",
    "/v1/styles",
    201,
    schemas.Style,
    form=frozenset({"image", "name", "title", "artist", "source_url", "licence"}),
)
DELETE_STYLE = Route("DELETE", "/v1/styles/{style_id}", 204)
STYLE_IMAGE = Route("GET", "/v1/styles/{style_id}/image", 200)

CREATE_CAMPAIGN = Route(
    "POST",
    "/v1/campaigns",
    202,
    schemas.Campaign,
    form=_names(CampaignFields) | _names(StylizationOptions),
    headers=IDEMPOTENT_SUBMIT,
)
GET_CAMPAIGN = Route("GET", "/v1/campaigns/{campaign_id}", 200, schemas.Campaign)
CANCEL_CAMPAIGN = Route("POST", "/v1/campaigns/{campaign_id}/cancel", 200, schemas.Campaign)
CAMPAIGN_ARCHIVE = Route("GET", "/v1/campaigns/{campaign_id}/archive", 200)

LIST_MODELS = Route("GET", "/v1/models", 200, schemas.Model, listed=True)
GET_MODEL = Route("GET", "/v1/models/{model_id}", 200, schemas.Model)
UPLOAD_MODEL = Route("POST", "/v1/models", 201, schemas.Model, form=frozenset({"file", "name"}))
ACTIVATE_MODEL = Route(
    "POST",
    "/v1/models/{model_id}/activate",
    200,
    schemas.Model,
    json=frozenset({"force", "reason"}),
)
ROLLBACK_MODEL = Route("POST", "/v1/models/rollback", 200, schemas.Model, listed=True)
LIST_ACTIVATIONS = Route("GET", "/v1/models/activations", 200, schemas.Activation, listed=True)
CONTACT_SHEET = Route("GET", "/v1/models/{model_id}/contact-sheet", 200)

CREATE_TRAINING = Route(
    "POST",
    "/v1/admin/trainings",
    202,
    schemas.JobSnapshot,
    json=frozenset({"style_set_id", "name", "content_set_id", "base_model_id", "from_scratch"})
    | _names(TrainingSettings),
)
TRAINING_PREVIEW = Route("GET", "/v1/admin/trainings/{job_id}/preview", 200)

WHOAMI = Route("GET", "/v1/me", 200, schemas.KeyInfo)

ALL: tuple[Route, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Route))
