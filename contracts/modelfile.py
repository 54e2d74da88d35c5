"""The model file's format, read without torch: the safetensors header and Atelier's metadata.

A safetensors file starts with an 8-byte little-endian header length and a JSON header whose
`__metadata__` maps strings to strings; Atelier's key `atelier` holds JSON with `"format":
"atelier-gan/1"`, the generator's `config` (its `architecture` among them) and the `encoder`
(name and weights digest). The API checks an upload with `read_model_metadata` (header,
metadata, every tensor inside the file); `models.modelfile` reads a file's metadata with
`read_file_metadata` and loads the tensors.
"""

import json
import struct
from pathlib import Path
from typing import Any

FORMAT = "atelier-gan/1"
# The model shipped in the repository: registered and activated on first start (app.crud), and
# what `atelier stylize` runs without --model. It may be absent (a checkout before it is trained).
SHIPPED_MODEL = (
    Path(__file__).resolve().parent.parent / "models" / "shipped" / "atelier-default.safetensors"
)
METADATA_KEY = "atelier"
# The generator architectures a model file may name in its config's `architecture` (a file
# written before the field existed has none: the first). models.networks.build_generator builds
# each; the API refuses an upload naming another.
ARCHITECTURES = ("adain-skip", "modulated")
MAX_HEADER_BYTES = 100 * 1024 * 1024


class ModelFileError(ValueError):
    """A model file that is corrupt, truncated, of another format, or made for another encoder."""


def header_length(prefix: bytes, file_size: int) -> int:
    """The JSON header's length from the file's first 8 bytes, checked against the file size."""
    if file_size < 8 or len(prefix) < 8:
        raise ModelFileError("too short for a safetensors header")
    (length,) = struct.unpack("<Q", prefix[:8])
    if length == 0 or length > MAX_HEADER_BYTES or 8 + length > file_size:
        raise ModelFileError("bad or truncated header (its length exceeds the file)")
    return int(length)


def parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError("header is not JSON") from exc
    if not isinstance(header, dict):
        raise ModelFileError("header is not a JSON object")
    return header


def metadata(header: dict[str, Any]) -> dict[str, Any]:
    """Atelier's metadata from a parsed header: format, generator config, encoder name/digest."""
    entries = header.get("__metadata__") or {}
    raw = entries.get(METADATA_KEY) if isinstance(entries, dict) else None
    if not isinstance(raw, str):
        raise ModelFileError(f"no {METADATA_KEY!r} metadata: not an Atelier model file")
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{METADATA_KEY!r} metadata is not JSON") from exc
    found = info.get("format") if isinstance(info, dict) else None
    if not isinstance(info, dict) or found != FORMAT:
        raise ModelFileError(f"unsupported model format {found!r}, expected {FORMAT}")
    encoder = info.get("encoder")
    if (
        not isinstance(info.get("config"), dict)
        or not isinstance(encoder, dict)
        or not isinstance(encoder.get("name"), str)
        or not isinstance(encoder.get("digest"), str)
    ):
        raise ModelFileError("model metadata lacks its config or encoder name and digest")
    architecture = info["config"].get("architecture", ARCHITECTURES[0])
    if architecture not in ARCHITECTURES:
        raise ModelFileError(
            f"unknown generator architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})"
        )
    return info


def check_tensor_offsets(header: dict[str, Any], data_size: int) -> None:
    """Every tensor's data lies inside the file: catches truncation without loading tensors."""
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1]):
            raise ModelFileError(f"tensor {name!r} has no valid data_offsets")
        if offsets[1] > data_size:
            raise ModelFileError(f"tensor {name!r} lies past the end of the file (truncated?)")


def read_model_metadata(data: bytes | bytearray) -> dict[str, Any]:
    """The metadata of a whole model file held in memory, its tensors' extents checked."""
    length = header_length(bytes(data[:8]), len(data))
    header = parse_header(bytes(data[8 : 8 + length]))
    info = metadata(header)
    check_tensor_offsets(header, len(data) - 8 - length)
    return info


def read_file_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a model file on disk, read from its header alone (no tensors)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError("no such model file")
    with open(path, "rb") as f:
        length = header_length(f.read(8), path.stat().st_size)
        return metadata(parse_header(f.read(length)))
