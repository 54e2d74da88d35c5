"""The client sends issue 21's controls, and they reach the job: `color_strength`,
`texture_strength`, `stroke_scale`, and styled `regions` with their `masks` files, read back
from the job resource the served API recorded (no worker: what is proved is the trip through
the client and the API, not the painting, which tests/service/test_style_regions.py and
test_style_controls.py check end to end). A refusal of bad regions comes back with its code."""

import pytest
from atelier_client import Client, InvalidInputError, NotFoundError


def test_the_controls_and_styled_regions_reach_the_job(idle_stack, photo, painting, make_photo):
    mask = make_photo((16, 12), 3)  # any size: the service scales it to the photo
    with Client(idle_stack.url, idle_stack.user_key) as client:
        sky = client.styles.upload(painting, name="sky", artist="A. Painter", licence="CC0")
        job = client.stylize(
            photo,
            style=painting,
            method="optimisation",
            color_strength=0.25,
            texture_strength=0.75,
            stroke_scale=2.0,
            regions=[
                {"box": [0, 0, 1, 0.5], "style_id": sky.id},
                {"mask": 0, "keep": True},
            ],
            masks=[mask],
            wait=False,
        )
        again = client.jobs.get(job.id)
        client.jobs.cancel(job.id)

    for seen in (job, again):
        params = seen.parameters
        assert (params["color_strength"], params["texture_strength"]) == (0.25, 0.75)
        assert params["stroke_scale"] == 2.0
        box, kept = params["regions"]
        assert box["box"] == [0, 0, 1, 0.5] and box["style_id"] == sky.id
        assert box["style_sha256"]  # the API found the saved style the region names
        assert kept["mask"] == 0 and kept["keep"] is True
        assert len(kept["mask_sha256"]) == 64  # the `masks` file was stored with the job


def test_bad_regions_are_refused_with_the_api_code(idle_stack, photo, painting):
    with Client(idle_stack.url, idle_stack.user_key) as client:
        before = [j.id for j in client.jobs.iterate()]
        with pytest.raises(InvalidInputError) as missing:
            client.stylize(
                photo,
                style=painting,
                method="optimisation",
                regions=[{"mask": 0, "keep": True}],
                wait=False,
            )
        with pytest.raises(NotFoundError) as unknown:
            client.stylize(
                photo,
                style=painting,
                method="optimisation",
                regions=[{"box": [0, 0, 1, 1], "style_id": "no-such-style"}],
                wait=False,
            )
        assert [j.id for j in client.jobs.iterate()] == before  # nothing was written
    assert missing.value.code == "region_mask_missing" and missing.value.status == 422
    assert unknown.value.code == "style_not_found"


def test_a_campaign_takes_the_controls_and_a_photos_styled_regions(
    idle_stack, make_photo, painting
):
    photos = [make_photo((48, 40), seed) for seed in (4, 5)]
    with Client(idle_stack.url, idle_stack.user_key) as client:
        sky = client.styles.upload(painting, name="campaign sky")
        campaign = client.campaigns.create(
            photos,
            styles=[painting],
            method="optimisation",
            texture_strength=0.5,
            regions=[{"regions": [{"mask": 0, "style_id": sky.id}]}, None],
            masks=[make_photo((10, 10), 6)],
        )
        client.campaigns.cancel(campaign.id)

    first, second = campaign.children
    assert first.parameters["texture_strength"] == second.parameters["texture_strength"] == 0.5
    (region,) = first.parameters["regions"]
    assert region["style_id"] == sky.id and len(region["mask_sha256"]) == 64
    assert [c["name"] for c in first.parameters["style_credits"]][-1] == "campaign sky"
    assert second.parameters["regions"] is None
