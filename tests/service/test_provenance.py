"""Signed provenance (issue 21): with ATELIER_C2PA_CERT and ATELIER_C2PA_KEY set, results carry a
C2PA manifest that c2pa-python's reader validates against the test's own root (generated here,
thrown away after), a clip's MP4 and poster included; a key that cannot sign stops the worker at
start; without the settings nothing is signed (test_labels: no manifest, `c2pa_signed: false`)."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from c2pa_certs import Chain, throwaway_chain
from label_helpers import (
    CLIP_FRAMES,
    CREDIT,
    credited_style,
    decoded,
    mp4_boxes,
    mp4_xmp,
    phone_photo,
    register_model,
    results_in_every_format,
    video_result,
)
from PIL import Image
from service_helpers import gradient_png

from app.config import Settings
from app.db import upgrade
from app.images import encode
from app.tables import Job
from contracts.credits import BUILTIN, UPLOADER, StyleCredit
from contracts.labels import DIGITAL_SOURCE_TYPE, OutputLabel, read_xmp, xmp_packet

c2pa = pytest.importorskip("c2pa")

REPO = Path(__file__).resolve().parents[2]
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def _manifest(data: bytes, mime: str, chain: Chain) -> tuple[str | None, dict]:
    """The validation state and the active manifest, read with the test root as the only
    trust anchor a reader adds (and nothing fetched)."""
    context = c2pa.Context.from_dict(
        {"trust": {"user_anchors": chain.root_pem}, "verify": {"remote_manifest_fetch": False}}
    )
    reader = c2pa.Reader(mime, io.BytesIO(data), context=context)
    return reader.get_validation_state(), reader.get_active_manifest()


def _created(manifest: dict) -> dict:
    [assertion] = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    [action] = assertion["data"]["actions"]
    return action


@pytest.mark.parametrize("key_kind", ["ec", "rsa", "ed25519"])
def test_the_signer_signs_with_each_kind_of_key_and_the_reader_trusts_it(
    tmp_path: Path, key_kind: str
) -> None:
    from worker.provenance import Ingredient, ProvenanceSigner

    chain = throwaway_chain(tmp_path, key_kind)
    signer = ProvenanceSigner(chain.cert.read_bytes(), chain.key.read_bytes())
    credit = StyleCredit("Starry", BUILTIN, "The Starry Night", "Vincent van Gogh", None, "PD")
    label = OutputLabel("0.1.0", "gan", "default", "ab" * 32, (credit,))
    data, mime = encode(Image.new("RGB", (32, 24), (9, 90, 200)), "jpeg", xmp_packet(label))
    photo = gradient_png((16, 16), 1)
    signed = signer.sign(
        data, mime, label, [Ingredient("photo.png", photo), Ingredient(credit.line(), None)]
    )
    state, manifest = _manifest(signed, mime, chain)
    assert state == "Trusted"
    assert manifest["signature_info"]["common_name"] == chain.common_name
    action = _created(manifest)
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert action["softwareAgent"]["name"] == "Atelier"
    assert "ab" * 32 in action["description"]
    assert [(i["title"], i["relationship"]) for i in manifest["ingredients"]] == [
        (credit.line(), "inputTo"),
        ("photo.png", "inputTo"),
    ]
    assert len(action["parameters"]["ingredients"]) == 2  # both inputs, linked to the action
    # The XMP label is still there, and covered by the signature: change it and it fails.
    assert read_xmp(Image.open(io.BytesIO(signed)).info["xmp"]) == label
    tampered = signed.replace(b"Vincent van Gogh", b"Vincent van Gohg")
    state, _ = _manifest(tampered, mime, chain)
    assert state not in ("Trusted", "Valid")


SKY = StyleCredit("sky", UPLOADER, "Evening Sky", "Ana Nube", None, "CC BY-SA 4.0")
SEA = StyleCredit("sea", UPLOADER, "Grey Sea", "Ola Mar", None, "CC0")


def test_the_ingredients_are_the_photo_and_every_style_the_result_used() -> None:
    """The main style, then each other style the regions paint, once each, titled with its own
    credit: two styles with the same credit (here the sea's twice) are two ingredients."""
    from worker.provenance import job_ingredients

    stored = {"main": b"main-bytes", "sky": b"sky-bytes", "sea": b"sea-bytes", "sea2": b"sea-2"}
    main = StyleCredit("main", UPLOADER, **CREDIT)

    def styled(box: list[float], key: str, credit: StyleCredit) -> dict:
        return {"box": box, "style_id": f"id-{key}", "style_sha256": key} | {
            "style_credit": credit.as_dict()
        }

    regions = [
        styled([0, 0, 1, 0.5], "sky", SKY),
        {"box": [0, 0, 0.1, 0.1], "keep": True},
        styled([0, 0.5, 0.5, 1], "main", main),  # the main style again: no second ingredient
        styled([0.5, 0.5, 1, 1], "sea", SEA),
        styled([0.9, 0.9, 1, 1], "sea2", SEA),  # another image, the same credit
    ]
    credits = [c.as_dict() for c in (main, SKY, SEA)]
    job = Job(style_sha256="main", parameters={"style_credits": credits, "regions": regions})
    ingredients = job_ingredients(stored, job, b"photo-bytes")
    assert [(i.title, i.data) for i in ingredients] == [
        ("photo", b"photo-bytes"),
        (main.line(), b"main-bytes"),
        (SKY.line(), b"sky-bytes"),
        (SEA.line(), b"sea-bytes"),
        (SEA.line(), b"sea-2"),
    ]
    # One style: its credit. A style set: named, not hashed. A job queued before region
    # credits were recorded: the region's style named by its id.
    alone = Job(style_sha256="main", parameters={"style_credits": credits[:1]})
    assert [i.title for i in job_ingredients(stored, alone, b"p")] == ["photo", main.line()]
    old = Job(
        style_sha256=None,
        parameters={"regions": [{"box": [0, 0, 1, 1], "style_id": "s1", "style_sha256": "sky"}]},
    )
    assert [(i.title, i.data) for i in job_ingredients(stored, old, b"p")] == [
        ("photo", b"p"),
        ("style", None),
        ("style s1", b"sky-bytes"),
    ]


def _worker_start(
    tmp_path: Path, e2e_env: dict[str, str], **env: str
) -> subprocess.CompletedProcess:
    data = tmp_path / "data"
    upgrade(Settings(data_dir=data).sqlalchemy_url)
    return subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", "worker"],
        env={**e2e_env, "ATELIER_DATA_DIR": str(data), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_key_that_cannot_sign_stops_the_worker_at_start(tmp_path: Path, e2e_env) -> None:
    chain = throwaway_chain(tmp_path / "good")
    other = throwaway_chain(tmp_path / "other")
    (tmp_path / "junk.key").write_text("not a key")
    cases = [
        (
            {"ATELIER_C2PA_CERT": str(chain.cert), "ATELIER_C2PA_KEY": str(tmp_path / "junk.key")},
            "not an unencrypted PEM private key",
        ),
        (
            {"ATELIER_C2PA_CERT": str(chain.cert), "ATELIER_C2PA_KEY": str(other.key)},
            "does not match",
        ),
        (
            {"ATELIER_C2PA_CERT": str(chain.cert), "ATELIER_C2PA_KEY": str(tmp_path / "nope")},
            "cannot read",
        ),
        ({"ATELIER_C2PA_CERT": str(chain.cert)}, "set both or neither"),
    ]
    for env, reason in cases:
        result = _worker_start(tmp_path, e2e_env, **env)
        assert result.returncode == 2, (env, result.stdout, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(("error: ", "invalid settings: ")) and reason in line, line
        assert "ATELIER_C2PA_KEY" in line


@pytest.mark.e2e
def test_with_a_c2pa_key_every_result_carries_a_manifest_that_validates(
    fresh_stack, builtin_model_file, tmp_path: Path
) -> None:
    stack = fresh_stack
    chain = throwaway_chain(tmp_path / "c2pa")
    model_sha256 = register_model(stack, builtin_model_file)
    stack.start_worker(ATELIER_C2PA_CERT=str(chain.cert), ATELIER_C2PA_KEY=str(chain.key))
    with stack.client() as client:
        style = credited_style(client)
        for output_format, (done, data) in results_in_every_format(
            stack, client, style["id"]
        ).items():
            assert done["result_info"]["c2pa_signed"] is True
            state, manifest = _manifest(data, MIME[output_format], chain)
            assert state == "Trusted", (output_format, manifest)
            action = _created(manifest)
            assert action["digitalSourceType"] == DIGITAL_SOURCE_TYPE
            assert model_sha256 in action["description"]
            titles = [i["title"] for i in manifest["ingredients"]]
            credit = StyleCredit(name="sunflowers.png", origin="uploader", **CREDIT)
            assert titles == ["photo", credit.line()]
            # The label is intact under the signature, and the photo's EXIF is not there.
            assert read_xmp(Image.open(io.BytesIO(data)).info["xmp"]).credits == (credit,)
            assert b"PhoneMaker" not in data
        # A result painted in several styles through `regions`: each style is an ingredient,
        # hashed from its image and titled with its credit (a kept region adds none, nor does
        # a region in the main style).
        region_styles = {}
        for name, credit, seed in (("sky", SKY, 8), ("sea", SEA, 9)):
            saved = client.post(
                "/v1/styles",
                files={"image": (f"{name}.png", gradient_png((40, 40), seed), "image/png")},
                data={"name": name, "title": credit.title, "artist": credit.artist}
                | {"licence": credit.licence},
            )
            assert saved.status_code == 201, saved.text
            region_styles[name] = saved.json()["id"]
        regions = [
            {"box": [0, 0, 1, 0.5], "style_id": region_styles["sky"]},
            {"box": [0, 0.5, 0.5, 1], "style_id": style["id"]},
            {"box": [0.5, 0.5, 1, 1], "style_id": region_styles["sea"]},
            {"box": [0, 0, 0.2, 0.2], "keep": True},
        ]
        response = client.post(
            "/v1/stylizations",
            files={"content": ("phone.jpg", phone_photo(), "image/jpeg")},
            data={"style_id": style["id"], "regions": json.dumps(regions)},
        )
        assert response.status_code == 202, response.text
        done = stack.wait_job(
            client, response.json()["id"], lambda j: j["status"] in ("succeeded", "failed"), 180
        )
        assert done["status"] == "succeeded", done
        data = client.get(done["result_url"]).content
    state, manifest = _manifest(data, "image/png", chain)
    assert state == "Trusted", manifest
    main = StyleCredit(name="sunflowers.png", origin="uploader", **CREDIT)
    assert [(i["title"], i["format"], i["relationship"]) for i in manifest["ingredients"]] == [
        ("photo", "image/png", "inputTo"),  # as stored: the phone's JPEG upright, no EXIF
        (main.line(), "image/png", "inputTo"),
        (SKY.line(), "image/png", "inputTo"),
        (SEA.line(), "image/png", "inputTo"),
    ]
    assert len(_created(manifest)["parameters"]["ingredients"]) == 4  # each linked to the action
    assert read_xmp(Image.open(io.BytesIO(data)).info["xmp"]).credits == (main, SKY, SEA)
    assert "C2PA signing: on (es256" in stack.logs("worker0.log")


@pytest.mark.e2e
def test_with_a_c2pa_key_a_clips_mp4_and_poster_carry_manifests_that_validate(
    fresh_stack, builtin_model_file, tmp_path: Path
) -> None:
    """Each names the clip (its bytes hashed) and the style as inputs; the MP4 still plays, its
    index first, and its XMP label is covered by the signature."""
    stack = fresh_stack
    chain = throwaway_chain(tmp_path / "c2pa")
    model_sha256 = register_model(stack, builtin_model_file)
    # The torch backend: `auto` would export and measure every backend at the worker's start.
    env = {"ATELIER_C2PA_CERT": str(chain.cert), "ATELIER_C2PA_KEY": str(chain.key)}
    stack.start_worker(ATELIER_BACKEND="torch", **env)
    with stack.client() as client:
        style = credited_style(client)
        done, video, poster = video_result(stack, client, style["id"])
    assert done["result_info"]["c2pa_signed"] is True
    credit = StyleCredit(name="sunflowers.png", origin="uploader", **CREDIT)
    for data, mime in ((video, "video/mp4"), (poster, "image/jpeg")):
        state, manifest = _manifest(data, mime, chain)
        assert state == "Trusted", (mime, manifest)
        action = _created(manifest)
        assert action["digitalSourceType"] == DIGITAL_SOURCE_TYPE
        assert model_sha256 in action["description"]
        assert action["description"].startswith("A video stylized by")
        assert [(i["title"], i["format"], i["relationship"]) for i in manifest["ingredients"]] == [
            ("clip", "video/mp4", "inputTo"),
            (credit.line(), "image/png", "inputTo"),
        ]
        assert len(action["parameters"]["ingredients"]) == 2
    # The labels are intact under the signatures; the MP4 plays, its index before its pictures.
    assert read_xmp(Image.open(io.BytesIO(poster)).info["xmp"]).credits == (credit,)
    packet, offset, size = mp4_xmp(video)
    assert read_xmp(packet).credits == (credit,) and read_xmp(packet).medium == "video"
    kinds = [kind for kind, _, _ in mp4_boxes(video)]
    assert kinds.index(b"moov") < kinds.index(b"mdat")
    frames, samples = decoded(video)
    assert abs(len(frames) - CLIP_FRAMES) <= 1 and samples > 0
    # A changed label (in the XMP box alone) no longer validates.
    box = video[offset : offset + size]
    assert b"Jeanne Example" in box
    tampered = (
        video[:offset] + box.replace(b"Jeanne Example", b"Jeanne Exampel") + video[offset + size :]
    )
    state, _ = _manifest(tampered, "video/mp4", chain)
    assert state not in ("Trusted", "Valid")
