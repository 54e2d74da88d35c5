"""Checks an uploaded model file without torch: read the safetensors header and its metadata.

A safetensors file starts with an 8-byte little-endian header length and a JSON header whose
`__metadata__` maps strings to strings; Atelier's key `atelier` holds JSON with `"format":
"atelier-gan/1"`. The worker validates the tensors fully when it loads the file.
"""

import json
import struct
from typing import Any

from app.errors import APIError

FORMAT = "atelier-gan/1"
MAX_HEADER_BYTES = 100 * 1024 * 1024


def read_model_metadata(data: bytes | bytearray) -> dict[str, Any]:
    """The `atelier` metadata of a model file, or an APIError 422 `model_invalid`."""

    def bad(why: str) -> APIError:
        return APIError(422, "model_invalid", f"not an Atelier model file: {why}")

    if len(data) < 8:
        raise bad("too short for a safetensors header")
    (header_len,) = struct.unpack("<Q", bytes(data[:8]))
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(data):
        raise bad("header length exceeds the file (truncated?)")
    try:
        header = json.loads(bytes(data[8 : 8 + header_len]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad("header is not JSON") from exc
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.get("__metadata__") or {}
    raw = metadata.get("atelier") if isinstance(metadata, dict) else None
    if not isinstance(raw, str):
        raise bad("no 'atelier' metadata")
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise bad("'atelier' metadata is not JSON") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise bad(f"format is not {FORMAT}")
    # Every tensor's data must lie inside the file: catches truncation without loading tensors.
    data_len = len(data) - 8 - header_len
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1]):
            raise bad(f"tensor {name!r} has no valid data_offsets")
        if offsets[1] > data_len:
            raise bad(f"tensor {name!r} lies past the end of the file (truncated?)")
    return info
