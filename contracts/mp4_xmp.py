"""An XMP packet (contracts.labels) in an MP4: a top-level `uuid` box whose user type is XMP's
UUID, where Adobe's XMP specification (part 3, "ISO base media file format") puts it and
exiftool, c2patool and c2pa-python read it.

The box is appended after the file's last box: a top-level box may follow `moov` and `mdat`
(ISO/IEC 14496-12), so nothing is re-encoded or moved, no chunk offset changes, and a
`faststart` file keeps its index before its pictures. The file's boxes are walked first (their
headers only), so a file that is not ISO BMFF, or whose last box runs to the end of the file
(size 0, which would swallow a box after it), is refused rather than damaged.
"""

import struct
import uuid
from pathlib import Path
from typing import BinaryIO

XMP_UUID = uuid.UUID("be7acfcb-97a9-42e8-9c71-999491e3afac")


class NotBmffError(ValueError):
    """The file is not a sequence of ISO BMFF boxes an XMP box can be appended to."""


def top_level_boxes(file: BinaryIO) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of each top-level box, from the headers alone; NotBmffError unless
    the boxes start with `ftyp` and tile the file exactly."""
    file.seek(0, 2)
    end = file.tell()
    boxes = []
    offset = 0
    while offset < end:
        file.seek(offset)
        header = file.read(8)
        if len(header) < 8:
            raise NotBmffError(f"a truncated box header at byte {offset}")
        size, kind = struct.unpack(">I4s", header)
        if size == 1:  # the size is the 64-bit field after the type
            large = file.read(8)
            if len(large) < 8:
                raise NotBmffError(f"a truncated box header at byte {offset}")
            (size,) = struct.unpack(">Q", large)
        elif size == 0:
            raise NotBmffError(f"box {kind!r} at byte {offset} runs to the end of the file")
        if size < 8 or offset + size > end:
            raise NotBmffError(f"box {kind!r} at byte {offset} has a bad size ({size})")
        boxes.append((kind, offset, size))
        offset += size
    if not boxes or boxes[0][0] != b"ftyp":
        raise NotBmffError("the file does not start with an ftyp box")
    return boxes


def xmp_box(packet: bytes) -> bytes:
    """The `uuid` box holding `packet`: size, type, XMP's UUID, the packet."""
    return struct.pack(">I4s", 8 + 16 + len(packet), b"uuid") + XMP_UUID.bytes + packet


def append_xmp(path: Path, packet: bytes) -> None:
    """Append `packet` to the MP4 (or MOV, or any ISO BMFF file) at `path` as a top-level XMP
    box, in place."""
    with path.open("r+b") as file:
        top_level_boxes(file)
        file.seek(0, 2)
        file.write(xmp_box(packet))
