"""A result's label and, when an operator configured a key, its signed provenance.

Every result carries the XMP label of contracts.labels (made by a trained model, the software,
the model's name and sha256, each style's credit as recorded with the job): a still, and a
clip's MP4 (contracts.mp4_xmp) and poster. With `ATELIER_C2PA_CERT` and `ATELIER_C2PA_KEY` set,
the worker also signs a C2PA manifest into it (c2pa-python): one action, `c2pa.created` with
IPTC's digital source type for a composite made with a trained model, whose inputs are the
photo (or the clip) and every style the result used (ingredients, each file's bytes hashed: the
photo, the main style, each other style its `regions` paint). The manifest's hash covers the
whole file, the XMP label included, so a changed label breaks the signature. Without the
settings nothing is imported or signed.
"""

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from app.config import Settings
from app.images import ALLOWED_FORMATS, sniff
from app.storage import Storage
from app.tables import Job, ModelFile
from contracts.credits import StyleCredit
from contracts.labels import SOFTWARE, OutputLabel, software_version


class ProvenanceError(RuntimeError):
    """The configured certificate or key cannot sign (unreadable, mismatched, unsupported)."""


def output_label(
    job: Job, stylizer: Any, model: ModelFile | None, medium: str = "photo"
) -> OutputLabel:
    """What the job's result says about itself (`medium`: "video" for a clip's MP4 and poster).
    Jobs queued before credits were recorded (`style_credits`) say no style was recorded rather
    than guess."""
    credits = tuple(StyleCredit.from_dict(c) for c in job.parameters.get("style_credits", []))
    return OutputLabel(
        version=software_version(),
        method=stylizer.method,
        model_name=model.name if model is not None else None,
        model_sha256=model.sha256 if model is not None else None,
        credits=credits,
        medium=medium,
    )


@dataclass(frozen=True)
class Ingredient:
    """An input of the result: its title, and its bytes (or a file of them: a clip is not read
    into memory) when they are hashed into the manifest (None: named only, as a style set's
    blend is); `format` its media type, when not an image's to sniff from the bytes."""

    title: str
    data: bytes | Path | None
    format: str | None = None


# A clip's media type by its container (FFmpeg's demuxer name): ISO BMFF (MP4, MOV), whose own
# C2PA manifest, if it carries one, c2pa-python reads into the ingredient. Another container
# (WebM, Matroska, AVI...) goes in as octet-stream: its bytes, no manifest looked for.
CLIP_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2": "video/mp4"}


def job_ingredients(storage: Storage, job: Job, photo: bytes) -> list[Ingredient]:
    """The job's inputs: the photo as stored, then its styles (style_ingredients)."""
    photo_ingredient = Ingredient(job.parameters.get("photo_name", "photo"), photo)
    return [photo_ingredient, *style_ingredients(storage, job)]


def clip_ingredients(storage: Storage, job: Job, clip: Path, container: str) -> list[Ingredient]:
    """A video job's inputs: the clip as stored (read from its file, not into memory), then its
    style (style_ingredients)."""
    media_type = CLIP_FORMATS.get(container, "application/octet-stream")
    return [Ingredient("clip", clip, media_type), *style_ingredients(storage, job)]


def style_ingredients(storage: Storage, job: Job) -> list[Ingredient]:
    """The job's styles: the main style image (a style set's blend is named only: its images
    are many and already credited by the set's name), then each other style image its
    `regions` paint, once each, in the order the regions name them; each titled with its
    credit."""
    params = job.parameters
    credits = [StyleCredit.from_dict(c) for c in params.get("style_credits", [])]
    main = storage.get(job.style_sha256) if job.style_sha256 is not None else None
    # The main style's credit comes first (app.credits.recorded_credits).
    ingredients = [Ingredient(credits[0].line() if credits else "style", main)]
    seen = {job.style_sha256}
    for region in params.get("regions") or []:
        key = region.get("style_sha256")
        if key is None or key in seen:  # kept, or a style already counted
            continue
        seen.add(key)
        credit = region.get("style_credit")  # absent in a job queued before it was recorded
        title = StyleCredit.from_dict(credit).line() if credit else f"style {region['style_id']}"
        ingredients.append(Ingredient(title, storage.get(key)))
    return ingredients


def _content_type(ingredient: Ingredient) -> str:
    if ingredient.format is not None:
        return ingredient.format
    if isinstance(ingredient.data, bytes):
        return ALLOWED_FORMATS.get(sniff(ingredient.data) or "", "application/octet-stream")
    return "application/octet-stream"


def _stream(data: bytes | Path) -> BinaryIO:
    return io.BytesIO(data) if isinstance(data, bytes) else data.open("rb")


def _algorithm(key_pem: bytes) -> str:
    """The C2PA signing algorithm for the key's type (ProvenanceError for another type)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ProvenanceError(f"the C2PA key is not an unencrypted PEM private key: {exc}") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curves = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in curves:
            raise ProvenanceError(f"C2PA signs with P-256, P-384 or P-521, not {key.curve.name}")
        return curves[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ProvenanceError(f"C2PA cannot sign with a {type(key).__name__}")


class ProvenanceSigner:
    """Signs results with one certificate chain and key (loaded once per worker process)."""

    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        import c2pa

        self.algorithm = _algorithm(key_pem)
        try:
            self._signer = c2pa.Signer.from_info(
                c2pa.C2paSignerInfo(self.algorithm.encode(), cert_pem, key_pem, None)
            )
        except c2pa.C2paError as exc:
            raise ProvenanceError(f"the C2PA certificate and key do not load: {exc}") from exc
        # No thumbnails (the result is the picture); no fetching of remote manifests.
        self._context = c2pa.Context.from_dict(
            {
                "builder": {"thumbnail": {"enabled": False}},
                "verify": {"remote_manifest_fetch": False},
            }
        )

    def sign(
        self, data: bytes, content_type: str, label: OutputLabel, ingredients: list[Ingredient]
    ) -> bytes:
        """The result's bytes with a signed C2PA manifest embedded."""
        import c2pa

        ids = [f"input{i}" for i in range(len(ingredients))]
        agent = {"name": SOFTWARE, "version": label.version}
        manifest = {
            "claim_generator_info": [agent],
            "format": content_type,
            "assertions": [
                {
                    "label": "c2pa.actions.v2",
                    "data": {
                        "actions": [
                            {
                                "action": "c2pa.created",
                                "digitalSourceType": label.source_type,
                                "softwareAgent": agent,
                                "description": label.description(),
                                "parameters": {"ingredientIds": ids},
                            }
                        ]
                    },
                }
            ],
            # Inputs known by name only (their bytes are not at hand): declared here.
            "ingredients": [
                {"title": i.title, "format": _content_type(i)}
                | {"relationship": "inputTo", "label": label_id}
                for i, label_id in zip(ingredients, ids, strict=True)
                if i.data is None
            ],
        }
        try:
            builder = c2pa.Builder(manifest, context=self._context)
            for ingredient, label_id in zip(ingredients, ids, strict=True):
                if ingredient.data is not None:
                    with _stream(ingredient.data) as stream:
                        builder.add_ingredient(
                            {
                                "title": ingredient.title,
                                "relationship": "inputTo",
                                "label": label_id,
                            },
                            _content_type(ingredient),
                            stream,
                        )
            out = io.BytesIO()
            builder.sign(self._signer, content_type, io.BytesIO(data), out)
        except c2pa.C2paError as exc:
            raise ProvenanceError(f"C2PA signing failed: {exc}") from exc
        return out.getvalue()


@lru_cache(maxsize=4)
def _signer(cert: Path, key: Path) -> ProvenanceSigner:
    try:
        cert_pem, key_pem = cert.read_bytes(), key.read_bytes()
    except OSError as exc:
        raise ProvenanceError(f"cannot read the C2PA certificate or key: {exc}") from exc
    return ProvenanceSigner(cert_pem, key_pem)


def provenance_signer(settings: Settings) -> ProvenanceSigner | None:
    """The worker's signer, or None when no C2PA key is configured."""
    if settings.c2pa_cert is None or settings.c2pa_key is None:
        return None
    return _signer(settings.c2pa_cert, settings.c2pa_key)


def check_provenance(settings: Settings) -> str:
    """At worker start: sign a 1-pixel image with the configured key, so that a certificate
    that cannot sign stops the worker with its reason rather than fail every job. What was
    found, for the log."""
    signer = provenance_signer(settings)
    if signer is None:
        return "C2PA signing: off (ATELIER_C2PA_CERT and ATELIER_C2PA_KEY not set)"
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1, 1)).save(out, format="PNG")
    label = OutputLabel(software_version(), "check", None, None, ())
    signer.sign(out.getvalue(), "image/png", label, [])
    return f"C2PA signing: on ({signer.algorithm}, {settings.c2pa_cert})"
