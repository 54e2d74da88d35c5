"""The settings' colour, texture and stroke controls in headless Chromium, against a real API
and worker: what the designer sets is what the job records."""

import pytest
from test_designer import drop_file, saved_style, signed_in

pytestmark = pytest.mark.timeout(300)


def test_colour_texture_and_stroke_controls_reach_the_job(page, stack, make_photo):
    style_id = saved_style(stack, make_photo, "Controls")
    signed_in(page, stack.url, stack.user_key)
    drop_file(page, "#dropzone", "photo.png", make_photo((80, 60), 2), "image/png")
    page.wait_for_selector("#photo-preview:not([hidden])")
    page.click(f"label.style-card:has(input[value='style:{style_id}'])")

    # Hidden until asked for; asking for them sets the shorthands aside.
    assert page.is_hidden("#color-strength") and page.is_hidden("#stroke-scale")
    page.check("#apart")
    assert page.is_visible("#color-strength") and page.is_disabled("#strength")
    page.focus("#color-strength")  # 100% -> 0%: keep the photo's palette
    page.keyboard.press("Home")
    assert page.inner_text("#color-strength-value") == "0%"
    page.focus("#texture-strength")  # 100% -> 75%
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    assert page.inner_text("#texture-strength-value") == "75%"
    page.check("#stroke")
    page.focus("#stroke-scale")  # 1x -> 2x
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert page.inner_text("#stroke-scale-value") == "2×"
    page.select_option("#method", "optimisation")  # the stack has no GAN model
    page.click("#submit")
    page.wait_for_selector("#job-status:text('Done: 100%')", timeout=120_000)

    with stack.client() as client:
        job = client.get("/v1/jobs", params={"limit": 1}).json()["data"][0]
    parameters = job["parameters"]
    assert job["status"] == "succeeded", job
    assert (parameters["color_strength"], parameters["texture_strength"]) == (0.0, 0.75)
    assert parameters["stroke_scale"] == 2.0
    assert parameters["strength"] == 1.0 and parameters["preserve_color"] is False

    # Back to the shorthands: the controls are not sent.
    page.uncheck("#apart")
    page.uncheck("#stroke")
    assert page.is_enabled("#strength") and page.is_hidden("#color-strength")


def test_the_region_editor_paints_a_drawn_box_in_the_style_picked_on_it(page, stack, make_photo):
    from test_ads import drag

    main_style = saved_style(stack, make_photo, "Main")
    region_style = saved_style(stack, make_photo, "Sky")
    signed_in(page, stack.url, stack.user_key)
    drop_file(page, "#dropzone", "photo.png", make_photo((96, 64), 4), "image/png")
    page.wait_for_selector("#photo-preview:not([hidden])")
    page.click(f"label.style-card:has(input[value='style:{main_style}'])")

    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.check("input[name=editor-mode][value=region]")
    drag(page, (0.1, 0.1), (0.9, 0.5))  # the top part
    assert not errors, errors
    picker = page.locator("#keep-layer .region-box select")
    assert picker.count() == 1
    picker.select_option(label="Sky")
    assert page.locator("#keep-layer .region-box").get_attribute("data-box") == "0.1,0.1,0.9,0.5"
    page.select_option("#method", "optimisation")  # the stack has no GAN model
    page.click("#submit")
    page.wait_for_selector("#job-status:text('Done: 100%')", timeout=120_000)

    with stack.client() as client:
        job = client.get("/v1/jobs", params={"limit": 1}).json()["data"][0]
    assert job["status"] == "succeeded", job
    [region] = job["parameters"]["regions"]
    assert region["box"] == [0.1, 0.1, 0.9, 0.5] and region["style_id"] == region_style
    assert job["style_id"] == main_style
