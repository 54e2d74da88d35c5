"""Image sets (style sets and content sets) as the API shows them, with their members and the
data checks' findings."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ImageSetMemberPublic(BaseModel):
    id: str
    filename: str
    sha256: str
    width: int
    height: int
    phash: str
    image_url: str
    thumbnail_url: str


class ImageSetPublic(BaseModel):
    id: str
    kind: str
    name: str
    digest: str
    image_count: int
    images: list[ImageSetMemberPublic]
    checks: list[dict[str, Any]] = Field(description="data-check findings: code, message, images")
    created_at: datetime
    updated_at: datetime


class ImageSetsPublic(BaseModel):
    data: list[ImageSetPublic]
