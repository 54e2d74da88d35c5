"""Whose work gave a result its style: a style's credit, and the rule its declared fields follow.

A credit is what the service knows, never a guess: a built-in style's facts come from its data
file (app/builtin_styles/styles.toml); an uploaded style's are what its uploader declared (which
may be nothing); a style set has only its name. The API records the credit with each job when
it is submitted, so a result is labelled with what was true when it was asked for, even if the
style is deleted or changed before the worker runs it.
"""

import unicodedata
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

# Where a credit's facts come from.
BUILTIN = "builtin"  # the service's data file for the paintings it ships
UPLOADER = "uploader"  # declared by whoever uploaded the style (possibly nothing)
STYLE_SET = "style_set"  # a style set (or one of its images): a name, no credit fields
ORIGINS = (BUILTIN, UPLOADER, STYLE_SET)

# The fields an uploader may declare, with their longest lengths (also the columns' lengths).
DECLARED_FIELDS = {"title": 200, "artist": 200, "source_url": 2000, "licence": 200}


class CreditError(ValueError):
    """A declared credit field the rules refuse; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class StyleCredit:
    name: str  # the style's name in the service (an upload's file name when it has no other)
    origin: str  # one of ORIGINS
    title: str | None = None
    artist: str | None = None
    source_url: str | None = None
    licence: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StyleCredit":
        """From `as_dict`'s shape; keys it does not know are ignored (a later field, an older
        reader)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def declared(self) -> bool:
        return any((self.title, self.artist, self.source_url, self.licence))

    def line(self) -> str:
        """The credit in one line of text, saying plainly what is not known."""
        if self.origin == STYLE_SET:
            return f"style set {self.name!r} (its images carry no credit)"
        if not self.declared:
            return f"{self.name!r}: uploaded with no credit declared (artist and licence unknown)"
        title = f'"{self.title}"' if self.title else "untitled"
        parts = [f"{title} by {self.artist or 'an unknown artist'}"]
        parts.append(f"licence: {self.licence or 'unknown'}")
        if self.source_url:
            parts.append(f"source: {self.source_url}")
        if self.origin == UPLOADER:
            parts.append("as declared by the uploader")
        return "; ".join(parts)


def check_declared(values: dict[str, str | None]) -> dict[str, str | None]:
    """An uploader's credit fields, checked: each DECLARED_FIELDS key (missing or blank: None),
    at most its length, on one line (a credit is printed one per line), `source_url` an http(s)
    address. CreditError names the first field refused."""
    checked: dict[str, str | None] = {}
    for field, limit in DECLARED_FIELDS.items():
        value = (values.get(field) or "").strip()
        if not value:
            checked[field] = None
            continue
        if len(value) > limit:
            raise CreditError(field, f"at most {limit} characters")
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
            raise CreditError(field, "one line of text (no control characters)")
        checked[field] = value
    url = checked["source_url"]
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
            raise CreditError("source_url", "an http:// or https:// address")
    return checked
