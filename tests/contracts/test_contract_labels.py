"""The label every result carries: the XMP packet written and read back, as itself and from
inside a PNG, a JPEG, a WebP and an MP4; the credit's text and the rule for declared credit
fields."""

import io
import struct
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from app.images import encode
from contracts.credits import BUILTIN, STYLE_SET, UPLOADER, CreditError, StyleCredit, check_declared
from contracts.labels import (
    DIGITAL_SOURCE_TYPE,
    NAMESPACES,
    NoLabelError,
    OutputLabel,
    read_xmp,
    xmp_packet,
)
from contracts.mp4_xmp import NotBmffError, append_xmp

STARRY = StyleCredit(
    name="The Starry Night (Vincent van Gogh)",
    origin=BUILTIN,
    title="The Starry Night",
    artist="Vincent van Gogh",
    source_url="https://example.org/starry?size=1&format=jpg",
    licence="public domain",
)
LABEL = OutputLabel(
    version="0.1.0",
    method="gan",
    model_name='fine-tune <"brand"> & co',
    model_sha256="ab" * 32,
    credits=(STARRY, StyleCredit(name="upload.png", origin=UPLOADER)),
)


def test_the_packet_reads_back_as_the_label_it_was_written_from() -> None:
    assert read_xmp(xmp_packet(LABEL)) == LABEL
    optimisation = OutputLabel("0.1.0", "optimisation", None, None, (STARRY,))
    assert read_xmp(xmp_packet(optimisation)) == optimisation
    video = replace(LABEL, medium="video")  # a clip's MP4 and poster
    assert read_xmp(xmp_packet(video)) == video
    assert video.description().startswith("A video stylized by a trained model")
    # A packet written before the medium was recorded labels a photo.
    older = xmp_packet(LABEL).replace(b"<atelier:Medium>photo</atelier:Medium>", b"")
    assert b"Medium" not in older and read_xmp(older) == LABEL


def test_the_packet_is_xmp_in_the_iptc_dc_and_xmp_namespaces() -> None:
    packet = xmp_packet(LABEL).decode("utf-8")
    assert packet.startswith('<?xpacket begin="\ufeff"') and packet.endswith('<?xpacket end="r"?>')
    root = ET.fromstring(packet[packet.index("<x:xmpmeta") : packet.index("<?xpacket end")])
    ns = {k: v for k, v in NAMESPACES.items()}
    described = root.find("rdf:RDF/rdf:Description", ns)
    assert described is not None
    assert described.findtext("Iptc4xmpExt:DigitalSourceType", namespaces=ns) == (
        "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
    )
    assert described.findtext("xmp:CreatorTool", namespaces=ns) == "Atelier 0.1.0"
    assert described.findtext("dc:creator/rdf:Seq/rdf:li", namespaces=ns) == "Atelier 0.1.0"
    # Special characters in a model's name are escaped, not dropped or passed through raw.
    assert described.findtext("atelier:ModelName", namespaces=ns) == 'fine-tune <"brand"> & co'
    description = described.findtext("dc:description/rdf:Alt/rdf:li", namespaces=ns)
    assert description is not None
    assert "trained model" in description and "ab" * 32 in description
    assert '"The Starry Night" by Vincent van Gogh; licence: public domain' in description
    assert "'upload.png': uploaded with no credit declared" in description


def test_text_xml_cannot_hold_is_dropped_rather_than_breaking_the_packet() -> None:
    odd = OutputLabel("0.1.0", "gan", "model\x00\x1b name", "cd" * 32, ())
    assert read_xmp(xmp_packet(odd)).model_name == "model name"


@pytest.mark.parametrize("output_format", ["png", "jpeg", "webp"])
def test_every_output_format_carries_the_packet(output_format: str) -> None:
    data, _ = encode(Image.new("RGB", (24, 16), (10, 120, 200)), output_format, xmp_packet(LABEL))
    image = Image.open(io.BytesIO(data))
    assert image.format == output_format.upper()
    assert read_xmp(image.info["xmp"]) == LABEL
    # The label is the only metadata: no EXIF block at all.
    assert not image.getexif() and b"Exif\x00\x00" not in data


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


FTYP = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")


def test_an_mp4_carries_the_packet_in_an_xmp_box_appended_after_its_last_box(
    tmp_path: Path,
) -> None:
    pictures = bytes(range(256)) * 3
    large_mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(pictures)) + pictures  # 64-bit size
    original = FTYP + _box(b"moov", b"\x00" * 40) + large_mdat
    path = tmp_path / "clip.mp4"
    path.write_bytes(original)
    append_xmp(path, xmp_packet(LABEL))
    data = path.read_bytes()
    assert data.startswith(original)  # nothing before it moved
    box = data[len(original) :]
    assert struct.unpack(">I4s", box[:8]) == (len(box), b"uuid")
    assert box[8:24] == bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")  # XMP's, part 3
    assert read_xmp(box[24:]) == LABEL


@pytest.mark.parametrize(
    "case",
    [
        "png",  # not ISO BMFF: no ftyp first
        "to_the_end",  # a last box of size 0 runs to the end: it would swallow the label
        "truncated",  # a box that claims more bytes than the file has
    ],
)
def test_a_file_an_xmp_box_cannot_follow_is_refused_and_left_as_it_was(
    tmp_path: Path, case: str
) -> None:
    png, _ = encode(Image.new("RGB", (4, 4)), "png")
    data = {
        "png": png,
        "to_the_end": FTYP + struct.pack(">I4s", 0, b"mdat") + b"pictures",
        "truncated": (FTYP + _box(b"moov", b"\x00" * 40))[:-5],
    }[case]
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with pytest.raises(NotBmffError):
        append_xmp(path, xmp_packet(LABEL))
    assert path.read_bytes() == data


def test_a_packet_of_another_tool_is_not_taken_for_a_label() -> None:
    with pytest.raises(NoLabelError):
        read_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'></x:xmpmeta>")
    with pytest.raises(NoLabelError):
        read_xmp(b"no xmp here")
    assert DIGITAL_SOURCE_TYPE.endswith("compositeWithTrainedAlgorithmicMedia")


def test_a_credit_line_says_what_is_not_known() -> None:
    assert STARRY.line() == (
        '"The Starry Night" by Vincent van Gogh; licence: public domain; '
        "source: https://example.org/starry?size=1&format=jpg"
    )
    partial = StyleCredit(name="x.jpg", origin=UPLOADER, artist="Ada Lovelace")
    assert partial.line() == (
        "untitled by Ada Lovelace; licence: unknown; as declared by the uploader"
    )
    assert StyleCredit(name="s.png", origin=UPLOADER).line() == (
        "'s.png': uploaded with no credit declared (artist and licence unknown)"
    )
    assert "style set 'Brand'" in StyleCredit(name="Brand", origin=STYLE_SET).line()
    assert StyleCredit.from_dict({**STARRY.as_dict(), "later_field": 1}) == STARRY


def test_declared_fields_are_checked_one_by_one() -> None:
    assert check_declared({"title": "  Sunflowers ", "artist": "", "source_url": None}) == {
        "title": "Sunflowers",
        "artist": None,
        "source_url": None,
        "licence": None,
    }
    refused = [
        ({"title": "x" * 201}, "title"),
        ({"artist": "two\nlines"}, "artist"),
        ({"source_url": "ftp://example.org/a.jpg"}, "source_url"),
        ({"source_url": "javascript:alert(1)"}, "source_url"),
        ({"source_url": "https://"}, "source_url"),
        ({"licence": "CC BY\t4.0"}, "licence"),
    ]
    for values, field in refused:
        with pytest.raises(CreditError) as caught:
            check_declared(values)
        assert caught.value.field == field
