"""Styles as the API shows them, each with the credit of whose work it is."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class StyleCreditPublic(BaseModel):
    """Whose work the style is: a built-in's from the service's data file, an upload's as its
    uploader declared it (null: not declared). Every result in the style carries it."""

    title: str | None
    artist: str | None
    source_url: str | None
    licence: str | None
    declared_by: Literal["service", "uploader"] = Field(
        description="service: a built-in painting's facts; uploader: what the uploader declared"
    )


class StylePublic(BaseModel):
    id: str
    name: str
    width: int
    height: int
    image_url: str
    builtin: bool = Field(
        description="shipped with the service: every key sees it, none deletes it"
    )
    credit: StyleCreditPublic
    info: dict[str, Any] = Field(
        description="built-in: title, artist, year, movement, public_domain, source, "
        "source_url, licence"
    )
    created_at: datetime


class StylesPublic(BaseModel):
    data: list[StylePublic]
