"""Honest labels (issue 21): style uploads carry a declared credit, built-ins their shipped
one, `GET /v1/styles` returns them, each job records the credit of its style; and through a
real API, worker and database, every result format carries the XMP label (trained-model source
type, software, model sha256, the style's credit) and none of the photo's EXIF, a campaign's
zip holds a CREDITS.txt, and a clip's MP4 (in an XMP box) and poster carry the label too."""

import io
import json
import time
import zipfile

import pytest
from label_helpers import (
    CLIP_FRAMES,
    CLIP_SIZE,
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
from sqlalchemy import update

from app.builtin_styles import builtin_styles
from app.tables import Style
from contracts.credits import BUILTIN, STYLE_SET, UPLOADER, StyleCredit
from contracts.labels import DIGITAL_SOURCE_TYPE, OutputLabel, read_xmp


def test_a_style_upload_keeps_its_declared_credit_and_the_listing_returns_it(api) -> None:
    api.client.headers.update(api.headers())
    style = credited_style(api.client)
    assert style["credit"] == {**CREDIT, "declared_by": "uploader"}
    bare = api.client.post("/v1/styles", files={"image": ("plain.png", gradient_png((20, 20), 1))})
    assert bare.json()["credit"] == {
        "title": None,
        "artist": None,
        "source_url": None,
        "licence": None,
        "declared_by": "uploader",
    }
    listed = {s["id"]: s["credit"] for s in api.client.get("/v1/styles").json()["data"]}
    assert listed[style["id"]] == style["credit"]
    assert listed[bare.json()["id"]] == bare.json()["credit"]
    assert api.client.get(f"/v1/styles/{style['id']}").json()["credit"] == style["credit"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "x" * 201),
        ("artist", "first line\nsecond line"),
        ("source_url", "file:///etc/passwd"),
        ("source_url", "not an address"),
        ("licence", "y" * 201),
    ],
)
def test_a_credit_the_rules_refuse_is_a_422_naming_the_field_that_stores_nothing(
    api, field: str, value: str
) -> None:
    before = api.state()
    response = api.client.post(
        "/v1/styles",
        headers=api.headers(),
        files={"image": ("s.png", gradient_png((20, 20), 1), "image/png")},
        data={**CREDIT, field: value},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_credit" and error["message"].startswith(f"{field}: ")
    assert api.state() == before


def test_the_builtin_styles_carry_their_credit_even_when_registered_before_credits(
    api_with,
) -> None:
    shipped = {s.name: s for s in builtin_styles()}
    with api_with(builtin_styles=True) as api:
        listed = api.client.get("/v1/styles", headers=api.headers()).json()["data"]
        photo = ("photo.png", gradient_png((40, 30), 2), "image/png")
        job = api.submit(content=photo, style_id=listed[0]["id"]).json()
        facts = shipped[listed[0]["name"]]
        assert job["parameters"]["style_credits"] == [
            StyleCredit(
                name=facts.name,
                origin=BUILTIN,
                title=facts.title,
                artist=facts.artist,
                source_url=facts.source_url,
                licence=facts.licence,
            ).as_dict()
        ]
        # A database registered before the credit columns existed: the credits are empty.
        with api.client.app.state.sessionmaker() as session:
            session.execute(
                update(Style).values(title=None, artist=None, source_url=None, licence=None)
            )
            session.commit()
    assert len(listed) == len(shipped)
    for style in listed:
        facts = shipped[style["name"]]
        assert style["credit"] == {
            "title": facts.title,
            "artist": facts.artist,
            "source_url": facts.source_url,
            "licence": "public domain",
            "declared_by": "service",
        }
        # Where this copy of the painting was taken from: a file in a public repository.
        assert facts.source_url.startswith("https://github.com/"), facts.source_url
    with api_with(builtin_styles=True) as api:  # the next start brings them up to date
        again = api.client.get("/v1/styles", headers=api.headers()).json()["data"]
    assert [s["credit"] for s in again] == [s["credit"] for s in listed]


def test_a_job_records_the_credit_of_its_style_as_it_was_when_submitted(api) -> None:
    api.client.headers.update(api.headers())
    style = credited_style(api.client)
    photo = ("photo.png", gradient_png((40, 30), 2), "image/png")
    by_id = api.submit(content=photo, style_id=style["id"])
    assert by_id.status_code == 202, by_id.text
    expected = StyleCredit(name="sunflowers.png", origin=UPLOADER, **CREDIT)
    assert by_id.json()["parameters"]["style_credits"] == [expected.as_dict()]
    # Deleting the style later does not change what the job recorded.
    assert api.client.delete(f"/v1/styles/{style['id']}").status_code == 204
    job = api.client.get(f"/v1/jobs/{by_id.json()['id']}").json()
    assert job["parameters"]["style_credits"] == [expected.as_dict()]
    # A style file sent with the job: its name, nothing declared.
    with_file = api.submit(content=photo, style=("mine.webp", gradient_png((30, 30), 3)))
    assert with_file.json()["parameters"]["style_credits"] == [
        StyleCredit(name="mine.webp", origin=UPLOADER).as_dict()
    ]


def test_a_job_in_a_style_set_records_the_sets_name(api) -> None:
    """A style set carries no credit fields: its name (or its image's file name) is recorded,
    and the label says its images carry no credit."""

    def noise(seed: int) -> bytes:
        out = io.BytesIO()
        Image.effect_noise((64, 64), 40 + 30 * seed).convert("RGB").save(out, format="PNG")
        return out.getvalue()

    files = [("images", (f"brand-{i}.png", noise(i), "image/png")) for i in range(3)]
    created = api.client.post(
        "/v1/style-sets", headers=api.headers(api.admin_key), files=files, data={"name": "Brand"}
    )
    assert created.status_code == 201, created.text
    style_set = created.json()
    photo = ("photo.png", gradient_png((40, 30), 2), "image/png")
    whole = api.submit(content=photo, style_set_id=style_set["id"]).json()
    assert whole["parameters"]["style_credits"] == [
        StyleCredit(name="Brand", origin=STYLE_SET).as_dict()
    ]
    member = style_set["images"][0]
    one = api.submit(content=photo, style_set_image_id=member["id"]).json()
    assert one["parameters"]["style_credits"] == [
        StyleCredit(name=member["filename"], origin=STYLE_SET).as_dict()
    ]


# End to end -------------------------------------------------------------------------------


def _label(data: bytes) -> OutputLabel:
    return read_xmp(Image.open(io.BytesIO(data)).info["xmp"])


@pytest.mark.e2e
def test_every_format_is_labelled_and_keeps_none_of_the_photos_exif(
    running_stack, builtin_model_file
) -> None:
    stack = running_stack
    model_sha256 = register_model(stack, builtin_model_file)
    photo = phone_photo()
    assert b"PhoneMaker" in photo and Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)
    with stack.client() as client:
        style = credited_style(client)
        for output_format, (done, data) in results_in_every_format(
            stack, client, style["id"]
        ).items():
            assert done["result_info"]["c2pa_signed"] is False
            image = Image.open(io.BytesIO(data))
            assert image.format == output_format.upper()
            assert image.size == (60, 80)  # the orientation was applied, then dropped
            # Nothing of the photo's EXIF: no GPS position, no camera, no EXIF block at all.
            assert not image.getexif() and not image.getexif().get_ifd(0x8825)
            assert b"PhoneMaker" not in data and b"Exif\x00\x00" not in data
            assert b"c2pa" not in data  # no C2PA manifest without the settings
            label = _label(data)
            assert label.source_type == DIGITAL_SOURCE_TYPE
            assert label.software.startswith("Atelier ") and label.method == "gan"
            assert label.model_sha256 == model_sha256 == done["result_info"]["model_sha256"]
            assert label.model_name == done["result_info"]["model_name"]
            assert label.credits == (StyleCredit(name="sunflowers.png", origin=UPLOADER, **CREDIT),)


def _wait_campaign(stack, client, campaign_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    campaign: dict = {}
    while time.monotonic() < deadline:
        campaign = client.get(f"/v1/campaigns/{campaign_id}").json()
        if campaign["finished_at"]:
            return campaign
        time.sleep(0.2)
    raise AssertionError(f"campaign never finished; last: {campaign}\n{stack.all_logs()}")


@pytest.mark.e2e
def test_a_campaign_zip_holds_credits_and_every_image_in_it_is_labelled(
    running_stack, builtin_model_file
) -> None:
    stack = running_stack
    model_sha256 = register_model(stack, builtin_model_file)
    with stack.client() as client:
        saved = credited_style(client, "sunflowers.png")
        files = [
            *[
                ("photos", (f"shot {i}.png", gradient_png((48, 32), i), "image/png"))
                for i in (1, 2)
            ],
            ("styles", ("mystery.png", gradient_png((40, 40), 8), "image/png")),
        ]
        data = {"name": "Autumn", "style_ids": json.dumps([saved["id"]]), "output_format": "webp"}
        response = client.post("/v1/campaigns", files=files, data=data)
        assert response.status_code == 202, response.text
        done = _wait_campaign(stack, client, response.json()["id"])
        assert done["status"] == "succeeded", done
        archive = client.get(done["archive_url"])
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        names = zipped.namelist()
        credits = zipped.read("CREDITS.txt").decode("utf-8")
        labels = {n: _label(zipped.read(n)) for n in names if n.endswith(".webp")}
    assert names[0] == "CREDITS.txt" and len(labels) == 4
    declared = StyleCredit(name="sunflowers.png", origin=UPLOADER, **CREDIT)
    undeclared = StyleCredit(name="mystery.png", origin=UPLOADER)
    for name, label in labels.items():
        assert label.source_type == DIGITAL_SOURCE_TYPE and label.model_sha256 == model_sha256
        assert label.credits == ((undeclared,) if name.endswith("__mystery.webp") else (declared,))
    # CREDITS.txt: each style's credit with the files made in it, and the model that made them.
    assert f"  1. {declared.line()}\n" in credits and f"  2. {undeclared.line()}\n" in credits
    assert '"Sunflowers over Arles" by Jeanne Example; licence: CC BY 4.0; source: ' in credits
    mystery = sorted(n for n in labels if n.endswith("__mystery.webp"))
    assert f"     in: {', '.join(mystery)}\n" in credits
    assert f"(sha256 {model_sha256}): 4 image(s)" in credits
    assert DIGITAL_SOURCE_TYPE in credits


@pytest.mark.e2e
def test_a_clips_mp4_and_poster_carry_the_label_and_the_mp4_plays_as_before(
    running_stack, builtin_model_file
) -> None:
    """The MP4's label is a top-level XMP box after its last box (the index still before the
    pictures); without that box the file decodes to the same frames and sound. The poster's
    label is a still's."""
    stack = running_stack
    model_sha256 = register_model(stack, builtin_model_file)
    with stack.client() as client:
        style = credited_style(client)
        done, video, poster = video_result(stack, client, style["id"])
    info = done["result_info"]
    assert info["c2pa_signed"] is False and b"c2pa" not in video + poster
    packet, offset, size = mp4_xmp(video)
    kinds = [kind for kind, _, _ in mp4_boxes(video)]
    assert kinds[0] == b"ftyp" and kinds.index(b"moov") < kinds.index(b"mdat")  # faststart
    assert offset + size == len(video)  # appended: nothing before it moved
    credit = StyleCredit(name="sunflowers.png", origin=UPLOADER, **CREDIT)
    assert Image.open(io.BytesIO(poster)).format == "JPEG"
    for label in (read_xmp(packet), _label(poster)):
        assert label.source_type == DIGITAL_SOURCE_TYPE and label.medium == "video"
        assert label.software.startswith("Atelier ") and label.method == "gan"
        assert label.model_sha256 == model_sha256 == info["model_sha256"]
        assert label.model_name == info["model_name"]
        assert label.credits == (credit,)
        assert label.description().startswith("A video stylized by a trained model")
    frames, samples = decoded(video)
    assert (frames, samples) == decoded(video[:offset] + video[offset + size :])
    assert abs(len(frames) - CLIP_FRAMES) <= 1 and info["frames"] == CLIP_FRAMES
    assert len(frames[0]) == CLIP_SIZE[0] * CLIP_SIZE[1] * 3
    assert (
        samples > 0.8 * 48000 * CLIP_FRAMES / 24
    )  # the tone is there, all of it (AAC's edges aside)
