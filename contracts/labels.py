"""The label every result carries: made by a trained model, by which software and model, in whose
style; written as an XMP packet (the metadata format JPEG, PNG, WebP and MP4 all carry) and read
back.

What the packet says, by namespace:
- `Iptc4xmpExt:DigitalSourceType`: IPTC's term for "a composite that includes output of a trained
  model" (the photo is real, the look is the model's): what photo desks and platforms read to
  mark an image as AI-made;
- `xmp:CreatorTool` and `dc:creator`: the software and its version;
- `dc:description`: the same facts as one sentence, for tools that show only a description;
- `atelier:` (ATELIER_NS): the method, the medium (a photo, or a video: the clip's MP4 and its
  poster), the model's name and sha256, and each style's credit (contracts.credits) as separate
  fields, for programs.
Written by hand rather than by an XMP library: the packet is small and fixed, and the API, the
worker and the CLI can all write it with nothing installed.
"""

import importlib.metadata
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from xml.sax.saxutils import escape

from contracts.credits import StyleCredit

DIGITAL_SOURCE_TYPE = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)
SOFTWARE = "Atelier"
# A namespace name, not an address to fetch (.invalid is reserved never to resolve).
ATELIER_NS = "https://atelier.invalid/ns/xmp/1.0/"
NAMESPACES = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "atelier": ATELIER_NS,
}
# StyleCredit's fields as XMP property names.
CREDIT_PROPERTIES = {
    "name": "Name",
    "origin": "Origin",
    "title": "Title",
    "artist": "Artist",
    "source_url": "SourceURL",
    "licence": "Licence",
}
# Characters XML 1.0 cannot hold at all (not even escaped): dropped from any text written.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@lru_cache
def software_version() -> str:
    """The installed Atelier's version: what the label's software says (the worker's and the
    CLI's alike)."""
    return importlib.metadata.version("atelier")


@dataclass(frozen=True)
class OutputLabel:
    version: str  # the software's version
    method: str  # "gan" or "optimisation"
    model_name: str | None  # None: the optimisation method, which has no model file
    model_sha256: str | None
    credits: tuple[StyleCredit, ...]
    source_type: str = DIGITAL_SOURCE_TYPE
    medium: str = "photo"  # what was stylized: "photo", or "video" (a clip's MP4 and poster)

    @property
    def software(self) -> str:
        return f"{SOFTWARE} {self.version}"

    def description(self) -> str:
        """The label as one sentence."""
        if self.model_sha256:
            made = f"a trained model: {self.software}, model {self.model_name} (sha256 "
            made += f"{self.model_sha256})"
        else:
            made = f"{self.software}'s optimisation method (no model file; a trained encoder)"
        styles = "; ".join(c.line() for c in self.credits) or "none recorded"
        return f"A {self.medium} stylized by {made}. Style: {styles}."


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def _property(name: str, value: str | None) -> str:
    return "" if value is None else f"<{name}>{_text(value)}</{name}>"


def xmp_packet(label: OutputLabel) -> bytes:
    """The label as an XMP packet (UTF-8), ready for a JPEG APP1 segment, a PNG iTXt chunk
    (`XML:com.adobe.xmp`), a WebP XMP chunk or an MP4's XMP box (contracts.mp4_xmp)."""
    credits = "".join(
        '<rdf:li rdf:parseType="Resource">'
        + "".join(
            _property(f"atelier:{prop}", getattr(credit, field))
            for field, prop in CREDIT_PROPERTIES.items()
        )
        + "</rdf:li>"
        for credit in label.credits
    )
    declarations = " ".join(f'xmlns:{p}="{uri}"' for p, uri in NAMESPACES.items() if p != "x")
    body = "".join(
        [
            _property("Iptc4xmpExt:DigitalSourceType", label.source_type),
            _property("xmp:CreatorTool", label.software),
            f"<dc:creator><rdf:Seq><rdf:li>{_text(label.software)}</rdf:li></rdf:Seq></dc:creator>",
            '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
            f"{_text(label.description())}</rdf:li></rdf:Alt></dc:description>",
            _property("atelier:Method", label.method),
            _property("atelier:Medium", label.medium),
            _property("atelier:ModelName", label.model_name),
            _property("atelier:ModelSHA256", label.model_sha256),
            f"<atelier:StyleCredits><rdf:Bag>{credits}</rdf:Bag></atelier:StyleCredits>",
        ]
    )
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="{NAMESPACES["x"]}"><rdf:RDF {declarations}>'
        f'<rdf:Description rdf:about="">{body}</rdf:Description>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
    )
    return packet.encode("utf-8")


class NoLabelError(ValueError):
    """The bytes hold no XMP packet with this label's fields."""


def _tag(prefix: str, name: str) -> str:
    return f"{{{NAMESPACES[prefix]}}}{name}"


def read_xmp(packet: bytes | str) -> OutputLabel:
    """The label an XMP packet carries (`xmp_packet`'s, or one a tool rewrote with the same
    properties); NoLabelError if it has none."""
    text = packet.decode("utf-8") if isinstance(packet, bytes) else packet
    start = text.find("<x:xmpmeta")
    end = text.find("</x:xmpmeta>")
    if start < 0 or end < 0:
        raise NoLabelError("no x:xmpmeta element")
    try:
        root = ET.fromstring(text[start : end + len("</x:xmpmeta>")])
    except ET.ParseError as exc:
        raise NoLabelError(f"not XML: {exc}") from exc
    source_type = root.find(f".//{_tag('Iptc4xmpExt', 'DigitalSourceType')}")
    tool = root.find(f".//{_tag('xmp', 'CreatorTool')}")
    if source_type is None or tool is None or not (tool.text or "").startswith(SOFTWARE + " "):
        raise NoLabelError(f"no DigitalSourceType or no {SOFTWARE} CreatorTool")

    def value(parent: ET.Element, name: str) -> str | None:
        found = parent.find(_tag("atelier", name))
        return None if found is None else found.text or ""

    credits = tuple(
        StyleCredit.from_dict(
            {field: value(item, prop) for field, prop in CREDIT_PROPERTIES.items()}
            | {"name": value(item, "Name") or "", "origin": value(item, "Origin") or ""}
        )
        for item in root.iterfind(f".//{_tag('atelier', 'StyleCredits')}//{_tag('rdf', 'li')}")
    )
    described = root.find(f".//{_tag('rdf', 'Description')}")
    if described is None:
        raise NoLabelError("no rdf:Description")
    return OutputLabel(
        version=(tool.text or "").removeprefix(SOFTWARE + " "),
        method=value(described, "Method") or "",
        model_name=value(described, "ModelName"),
        model_sha256=value(described, "ModelSHA256"),
        credits=credits,
        source_type=source_type.text or "",
        # A packet written before the medium was recorded labels a photo.
        medium=value(described, "Medium") or "photo",
    )
