"""Streaming multipart parsing with byte limits.

Starlette's form parser spools file parts to disk without a size cap, so an upload endpoint that
used it would read a 10 GB body before it could refuse it. This parser counts bytes as they arrive
and stops the request with 413 at the first byte over the limit; files are kept in memory (the
limit is small), and nothing is written anywhere until the whole request has been validated.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from app.api.errors import APIError
from contracts.images import NAME_MAX_LENGTH, NAME_MIN_LENGTH, check_name

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32


@dataclass
class FilePart:
    filename: str
    content_type: str | None  # as the client declared it: informative only, never trusted
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Form:
    fields: dict[str, str]
    files: dict[str, FilePart]  # one file per name
    file_lists: dict[str, list[FilePart]]  # names listed in `multi`, which may repeat


class _Collector:
    def __init__(
        self,
        max_file_bytes: int,
        max_parts: int,
        multi: frozenset[str],
        file_limits: Mapping[str, int],
    ) -> None:
        self.max_file_bytes = max_file_bytes
        self.file_limits = file_limits
        self.max_parts = max_parts
        self.multi = multi
        self.fields: dict[str, str] = {}
        self.files: dict[str, FilePart] = {}
        self.file_lists: dict[str, list[FilePart]] = {}
        self.parts = 0
        self._name = ""
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._file: FilePart | None = None
        self._data = bytearray()

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise APIError(413, "too_many_parts", f"more than {self.max_parts} form parts")
        self._headers = {}
        self._file = None
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise APIError(400, "malformed_multipart", "a form part has no name")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            declared = self._headers.get(b"content-type")
            self._file = FilePart(
                filename=options[b"filename"].decode("utf-8", "replace"),
                content_type=declared.decode("latin-1").strip() if declared else None,
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is not None:
            limit = self.file_limits.get(self._name, self.max_file_bytes)
            if len(self._file.data) + len(chunk) > limit:
                raise APIError(
                    413,
                    "file_too_large",
                    f"file '{self._name}' exceeds the limit of {limit} bytes",
                )
            self._file.data.extend(chunk)
        else:
            if len(self._data) + len(chunk) > MAX_FIELD_BYTES:
                raise APIError(413, "field_too_large", f"field '{self._name}' is too long")
            self._data.extend(chunk)

    def on_part_end(self) -> None:
        if self._file is not None and self._name in self.multi:
            self.file_lists.setdefault(self._name, []).append(self._file)
            return
        if self._name in self.fields or self._name in self.files:
            raise APIError(422, "duplicate_field", f"field '{self._name}' was given twice")
        if self._file is not None:
            self.files[self._name] = self._file
        else:
            self.fields[self._name] = self._data.decode("utf-8", "replace")


async def read_form(
    request: Request,
    *,
    max_file_bytes: int,
    max_parts: int = MAX_PARTS,
    multi: frozenset[str] = frozenset(),
    file_limits: Mapping[str, int] | None = None,
) -> Form:
    """Parse a multipart/form-data body, refusing it as soon as it grows past the limits.

    File fields named in `multi` may repeat (into `file_lists`); any other name may appear once.
    `file_limits` gives some file fields a limit of their own (a video clip's), the others have
    `max_file_bytes`.
    """
    file_limits = file_limits or {}
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise APIError(
            415, "unsupported_media_type", "the request body must be multipart/form-data"
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise APIError(400, "malformed_multipart", "multipart boundary missing")
    # A declared length already over the limit is refused before reading anything.
    max_body = (
        (2 if not multi else max_parts) * max_file_bytes
        + sum(file_limits.values())
        + max_parts * (MAX_FIELD_BYTES // 8)
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        raise APIError(413, "file_too_large", f"request body exceeds {max_body} bytes")

    collector = _Collector(max_file_bytes, max_parts, multi, file_limits)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": collector.on_part_begin,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:
                raise APIError(413, "file_too_large", f"request body exceeds {max_body} bytes")
            parser.write(chunk)
        parser.finalize()
    except APIError:
        raise
    except Exception as exc:  # python-multipart's own parse errors
        raise APIError(400, "malformed_multipart", f"invalid multipart body: {exc}") from exc
    return Form(fields=collector.fields, files=collector.files, file_lists=collector.file_lists)


def form_name(form: Form, *fallbacks: str | None) -> str:
    """The form's `name` (else the first fallback given, such as the file's name) by the one
    name rule: 1 to 200 characters once surrounding spaces are dropped, else 422; never cut."""
    given = form.fields.get("name") or next((f for f in fallbacks if f), "")
    try:
        return check_name(given)
    except ValueError as exc:
        raise APIError(422, "invalid_parameter", f"name: {exc}") from exc


# The OpenAPI schema of a form's `name` field.
NAME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": NAME_MIN_LENGTH,
    "maxLength": NAME_MAX_LENGTH,
}


def multipart_openapi(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` that documents a multipart body parsed by `read_form` (not by FastAPI)."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
