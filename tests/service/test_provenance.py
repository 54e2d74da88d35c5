"""Signed provenance (issue 21): with ATELIER_C2PA_CERT and ATELIER_C2PA_KEY set, results carry a
C2PA manifest that c2pa-python's reader validates against the test's own root (generated here,
thrown away after); a key that cannot sign stops the worker at start; without the settings
nothing is signed (test_labels: no manifest, `c2pa_signed: false`)."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from c2pa_certs import Chain, throwaway_chain
from label_helpers import CREDIT, credited_style, register_model, results_in_every_format
from PIL import Image
from service_helpers import gradient_png

from app.config import Settings
from app.db import upgrade
from app.images import encode
from contracts.credits import BUILTIN, StyleCredit
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
    assert "C2PA signing: on (es256" in stack.logs("worker0.log")
