"""A designer's path through the page in headless Chromium, against a real API and worker."""

import base64
import io

import pytest
from PIL import Image, ImageChops, ImageStat

pytestmark = pytest.mark.timeout(300)

# Each #job-status text and progress value the page shows, recorded as it changes.
WATCH_PROGRESS = """
window.__seen = [];
const status = document.getElementById("job-status");
const bar = document.getElementById("job-progress");
new MutationObserver(() => window.__seen.push([status.textContent, bar.value]))
  .observe(status, {childList: true, characterData: true, subtree: true});
"""


def drop_file(page, selector: str, name: str, data: bytes, mime: str) -> None:
    """Drag and drop a file onto an element, as a user dragging from the desktop would."""
    transfer = page.evaluate_handle(
        """([name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: mime}));
            return dt;
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def signed_in(page, url: str, key: str) -> None:
    page.goto(f"{url}/#key={key}")
    page.wait_for_selector("#designer:not([hidden])")


def saved_style(stack, make_photo, name: str) -> str:
    with stack.client() as client:
        response = client.post(
            "/v1/styles",
            files={"image": (f"{name}.png", make_photo((48, 48), 7), "image/png")},
            data={"name": name},
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_designer_stylizes_a_photo_and_downloads_a_different_image(
    page, stack, make_photo, screenshot, tmp_path
):
    style_id = saved_style(stack, make_photo, "Blue period")
    photo = make_photo((96, 72), 1)

    signed_in(page, stack.url, stack.user_key)
    # The key came in the URL fragment: kept in the browser, then removed from the address bar.
    assert "#key" not in page.url
    assert page.evaluate("localStorage.getItem('atelier.apiKey')") == stack.user_key
    assert "user's key" in page.inner_text("#who")
    assert "1.0 MiB" in page.inner_text("#photo-limits")  # the limits are shown before upload

    drop_file(page, "#dropzone", "photo.png", photo, "image/png")
    page.wait_for_selector("#photo-preview:not([hidden])")
    assert "96 × 72" in (page.get_attribute("#photo-preview", "alt") or "")

    page.click(f"label.style-card:has(input[value='style:{style_id}'])")
    assert page.is_checked(f"input[value='style:{style_id}']")
    page.focus("#strength")  # the slider works from the keyboard: 100% -> 60%
    for _ in range(8):
        page.keyboard.press("ArrowLeft")
    assert page.inner_text("#strength-value") == "60%"
    page.select_option("#output-format", "png")
    page.select_option("#method", "optimisation")  # the stack has no GAN model

    page.evaluate(WATCH_PROGRESS)
    page.click("#submit")
    page.wait_for_selector("#download:not([hidden])", timeout=120_000)
    seen = page.evaluate("window.__seen")
    assert seen[-1] == ["Done: 100%", 100], seen
    assert any(text.startswith(("Waiting", "Working")) for text, _ in seen), seen
    assert page.get_attribute("#after", "src").startswith("blob:")
    assert not page.is_hidden("#compare-slider")  # before/after comparison
    page.wait_for_selector("#recent-list li img[src^='blob:']")
    screenshot(page, "designer-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    screenshot(page, "designer-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.focus("#compare-slider")
    page.keyboard.press("End")
    assert "100%" in page.get_attribute("#after-wrap", "style")

    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    result = Image.open(path).convert("RGB")
    original = Image.open(io.BytesIO(photo)).convert("RGB")
    assert result.size == original.size
    difference = ImageStat.Stat(ImageChops.difference(result, original)).mean
    assert sum(difference) / 3 > 2.0, difference  # the pixels really changed

    with stack.client() as client:
        job = client.get("/v1/jobs", params={"limit": 1}).json()["data"][0]
    assert job["style_id"] == style_id and job["parameters"]["strength"] == 0.6
    assert download.suggested_filename == f"atelier-{job['id']}.png"
    page.wait_for_selector(f"#recent-list li[data-job-id='{job['id']}'] img[src^='blob:']")

    # "Try another style" keeps the photo; this time an own painting, in a 1200x628 ad format.
    page.click("#try-another")
    assert page.is_visible("#photo-preview")
    page.set_input_files(
        "#style-file",
        files=[{"name": "mine.png", "mimeType": "image/png", "buffer": make_photo((40, 40), 3)}],
    )
    assert page.is_checked("#style-upload-choice")
    page.select_option("#size", "1200x628")
    page.select_option("#output-format", "jpeg")
    page.select_option("#method", "optimisation")
    page.click("#submit")
    page.wait_for_selector(f"#job-section[data-job-id]:not([data-job-id='{job['id']}'])")
    page.wait_for_selector("#job-status:text('Done: 100%')", timeout=120_000)
    with stack.client() as client:
        second = client.get("/v1/jobs", params={"limit": 1}).json()["data"][0]
        assert second["id"] != job["id"] and second["status"] == "succeeded"
        image = Image.open(io.BytesIO(client.get(second["result_url"]).content))
    assert (image.format, image.size) == ("JPEG", (1200, 628))
    page.wait_for_selector("#recent-list li:nth-child(2) button:text('Download')")


def test_a_saved_painting_keeps_the_credit_typed_for_it(page, stack, make_photo, tmp_path):
    """The designer saves their own painting with its credit: the gallery shows it, and the
    result carries it in its label."""
    from contracts.labels import read_xmp

    signed_in(page, stack.url, stack.user_key)
    page.set_input_files(
        "#photo",
        files=[{"name": "shop.png", "mimeType": "image/png", "buffer": make_photo((64, 48), 3)}],
    )
    page.wait_for_selector("#photo-preview:not([hidden])")
    page.set_input_files(
        "#style-file",
        files=[{"name": "wheat.png", "mimeType": "image/png", "buffer": make_photo((48, 48), 5)}],
    )
    assert page.is_hidden("#style-credit")  # asked for only when the painting is saved
    page.check("#save-style")
    page.fill("#credit-title", "Wheat Field")
    page.fill("#credit-artist", "Jo Painter")
    page.fill("#credit-source_url", "https://example.org/wheat")
    page.fill("#credit-licence", "CC BY 4.0")
    page.select_option("#method", "optimisation")
    page.click("#submit")
    page.wait_for_selector("#job-status:text('Done: 100%')", timeout=120_000)

    card = page.locator("label.style-card:has-text('wheat.png')")
    assert card.locator("small.artist").inner_text() == "Jo Painter"
    assert card.locator("small.licence").inner_text() == "CC BY 4.0"
    tooltip = card.get_attribute("title") or ""
    assert tooltip.splitlines() == [
        "“Wheat Field”, Jo Painter",
        "Licence: CC BY 4.0",
        "Source: https://example.org/wheat",
        "As declared by the uploader",
    ]
    with stack.client() as client:
        job = client.get("/v1/jobs", params={"limit": 1}).json()["data"][0]
        result = client.get(job["result_url"]).content
    [credit] = read_xmp(Image.open(io.BytesIO(result)).info["xmp"]).credits
    assert (credit.title, credit.artist, credit.licence) == (
        "Wheat Field",
        "Jo Painter",
        "CC BY 4.0",
    )


def test_errors_are_shown_next_to_the_field_that_caused_them(page, stack, make_photo, screenshot):
    page.goto(f"{stack.url}/#key=atl_not_a_real_key")
    page.wait_for_selector("#key-error:text('not recognised')")
    assert page.is_hidden("#designer")
    page.fill("#api-key", stack.user_key)
    page.press("#api-key", "Enter")  # keyboard only
    page.wait_for_selector("#designer:not([hidden])")

    # A file that says it is a PNG but is not an image: refused in the browser, next to the field.
    page.set_input_files(
        "#photo",
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"these are my notes"}],
    )
    page.wait_for_selector("#photo-error:text('could not be read as an image')")
    page.click("#submit")
    assert page.inner_text("#photo-error") == "Choose a photo first."
    too_big = b"\x89PNG" + bytes(1024 * 1024 + 10)
    page.set_input_files(
        "#photo", files=[{"name": "huge.png", "mimeType": "image/png", "buffer": too_big}]
    )
    page.wait_for_selector("#photo-error:text('the limit is 1.0 MiB')")
    screenshot(page, "bad-file")

    # An error only the API can know (the style was deleted meanwhile): in plain words, by the
    # style gallery, and nothing was submitted.
    style_id = saved_style(stack, make_photo, "Soon gone")
    page.reload()
    page.set_input_files(
        "#photo",
        files=[{"name": "ok.png", "mimeType": "image/png", "buffer": make_photo((64, 48), 2)}],
    )
    page.wait_for_selector("#photo-preview:not([hidden])")
    page.click(f"label.style-card:has(input[value='style:{style_id}'])")
    with stack.client() as client:
        assert client.delete(f"/v1/styles/{style_id}").status_code == 204
        before = len(client.get("/v1/jobs").json()["data"])
    page.click("#submit")
    page.wait_for_selector("#style-error:text('This style no longer exists')")
    assert page.inner_text("#photo-error") == ""
    with stack.client() as client:
        assert len(client.get("/v1/jobs").json()["data"]) == before
    screenshot(page, "api-error")
