"""Streaming multipart parsing with byte limits.

Starlette's form parser spools file parts to disk without a size cap, so an upload endpoint that
used it would read a 10 GB body before it could refuse it. This parser counts bytes as they arrive
and stops the request with 413 at the first byte over the limit. Images are kept in memory (their
limit is small); the parts named in `spool` (a video clip, up to hundreds of megabytes) go to a
temporary file as they arrive, hashed on the way, so that the API holds about a megabyte of one
at a time. Nothing is written to storage until the whole request has been validated, and a
spooled file lives only as long as its request: removed when the form is refused or closed.
"""

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from python_multipart.multipart import MultipartParser, parse_options_header

from app.api.errors import APIError
from contracts.images import NAME_MAX_LENGTH, NAME_MIN_LENGTH, check_name

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32
# A spooled part's bytes are written (and hashed) in a worker thread a batch at a time: a thread
# hop per network chunk (64 KiB) would cost more than the write, and a write in the event loop
# can block it when the kernel throttles dirty pages.
SPOOL_BATCH_BYTES = 1024 * 1024


@dataclass
class FilePart:
    filename: str
    content_type: str | None  # as the client declared it: informative only, never trusted
    data: bytearray = field(default_factory=bytearray)


class SpooledPart:
    """A file part written to a temporary file as it arrives: `path`, `size` and, once the
    body has been read, `sha256` (of the bytes, as storage keys them)."""

    def __init__(self, filename: str, content_type: str | None, folder: Path) -> None:
        self.filename = filename
        self.content_type = content_type  # as the client declared it: never trusted
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
        self.path = Path(name)
        self.size = 0
        self.sha256 = ""
        self._file = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._batch = bytearray()

    def append(self, chunk: bytes) -> None:
        """Count and keep a chunk (the parser's callback: no I/O in the event loop)."""
        self.size += len(chunk)
        self._batch += chunk

    def pending(self) -> int:
        return len(self._batch)

    def write_batch(self) -> None:
        """Write and hash what was appended since the last batch (in a worker thread)."""
        batch, self._batch = self._batch, bytearray()
        self._file.write(batch)
        self._digest.update(batch)

    def finish(self) -> None:
        self.write_batch()
        self._file.close()
        self.sha256 = self._digest.hexdigest()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


@dataclass
class Form:
    fields: dict[str, str]
    files: dict[str, FilePart]  # one file per name
    file_lists: dict[str, list[FilePart]]  # names listed in `multi`, which may repeat
    spooled: dict[str, SpooledPart] = field(default_factory=dict)  # names listed in `spool`

    def close(self) -> None:
        """Remove the spooled files (what storage needed of them has been stored by now)."""
        for part in self.spooled.values():
            part.discard()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Collector:
    def __init__(
        self,
        max_file_bytes: int,
        max_parts: int,
        multi: frozenset[str],
        file_limits: Mapping[str, int],
        spool: frozenset[str],
        spool_dir: Path,
    ) -> None:
        self.max_file_bytes = max_file_bytes
        self.file_limits = file_limits
        self.max_parts = max_parts
        self.multi = multi
        self.spool = spool
        self.spool_dir = spool_dir
        self.fields: dict[str, str] = {}
        self.files: dict[str, FilePart] = {}
        self.file_lists: dict[str, list[FilePart]] = {}
        self.spooled: dict[str, SpooledPart] = {}
        self.spooling: list[SpooledPart] = []  # every one opened, to remove them all if refused
        self.parts = 0
        self._name = ""
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._file: FilePart | None = None
        self._spooled: SpooledPart | None = None
        self._data = bytearray()

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise APIError(413, "too_many_parts", f"more than {self.max_parts} form parts")
        self._headers = {}
        self._file = None
        self._spooled = None
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
            filename = options[b"filename"].decode("utf-8", "replace")
            content_type = declared.decode("latin-1").strip() if declared else None
            if self._name in self.spool:
                self._spooled = SpooledPart(filename, content_type, self.spool_dir)
                self.spooling.append(self._spooled)
            else:
                self._file = FilePart(filename=filename, content_type=content_type)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._spooled is not None:
            self._check_file_size(self._spooled.size + len(chunk))
            self._spooled.append(chunk)
        elif self._file is not None:
            self._check_file_size(len(self._file.data) + len(chunk))
            self._file.data.extend(chunk)
        else:
            if len(self._data) + len(chunk) > MAX_FIELD_BYTES:
                raise APIError(413, "field_too_large", f"field '{self._name}' is too long")
            self._data.extend(chunk)

    def _check_file_size(self, size: int) -> None:
        limit = self.file_limits.get(self._name, self.max_file_bytes)
        if size > limit:
            raise APIError(
                413, "file_too_large", f"file '{self._name}' exceeds the limit of {limit} bytes"
            )

    def on_part_end(self) -> None:
        if self._file is not None and self._name in self.multi:
            self.file_lists.setdefault(self._name, []).append(self._file)
            return
        if self._name in self.fields or self._name in self.files or self._name in self.spooled:
            raise APIError(422, "duplicate_field", f"field '{self._name}' was given twice")
        if self._spooled is not None:
            self.spooled[self._name] = self._spooled
        elif self._file is not None:
            self.files[self._name] = self._file
        else:
            self.fields[self._name] = self._data.decode("utf-8", "replace")

    async def write_spooled(self, at_least: int) -> None:
        """Write the spooled parts' batches of `at_least` bytes (0: all) in a worker thread."""
        for part in self.spooling:
            if part.pending() and part.pending() >= at_least:
                await run_in_threadpool(part.write_batch)

    def discard(self) -> None:
        for part in self.spooling:
            part.discard()


async def read_form(
    request: Request,
    *,
    max_file_bytes: int,
    max_parts: int = MAX_PARTS,
    multi: frozenset[str] = frozenset(),
    file_limits: Mapping[str, int] | None = None,
    spool: frozenset[str] = frozenset(),
    spool_dir: Path | None = None,
) -> Form:
    """Parse a multipart/form-data body, refusing it as soon as it grows past the limits.

    File fields named in `multi` may repeat (into `file_lists`); any other name may appear once.
    `file_limits` gives some file fields a limit of their own (a video clip's), the others have
    `max_file_bytes`. File fields named in `spool` go to temporary files in `spool_dir` (default:
    the system's temporary folder) as they stream in (into `spooled`): a refused body leaves none
    behind, and the caller closes the form (`with form:`) to remove those of an accepted one.
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

    folder = spool_dir or Path(tempfile.gettempdir())
    collector = _Collector(max_file_bytes, max_parts, multi, file_limits, spool, folder)
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
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_body:
                    raise APIError(413, "file_too_large", f"request body exceeds {max_body} bytes")
                parser.write(chunk)
                await collector.write_spooled(SPOOL_BATCH_BYTES)
            parser.finalize()
            for part in collector.spooling:
                await run_in_threadpool(part.finish)
        except (APIError, OSError):  # a refusal, or this machine's disk failing (500)
            raise
        except Exception as exc:  # python-multipart's own parse errors
            raise APIError(400, "malformed_multipart", f"invalid multipart body: {exc}") from exc
    except BaseException:  # refused, broken or cancelled: no spooled file outlives the request
        collector.discard()
        raise
    return Form(
        fields=collector.fields,
        files=collector.files,
        file_lists=collector.file_lists,
        spooled=collector.spooled,
    )


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
