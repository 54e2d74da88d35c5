"""An ad designer's path in headless Chromium, against a real API and worker with the built-in
styles and the shipped default model: keep a region photographic, drag an ad format's crop,
run a campaign to a grid and a zip, and all of it at phone width with touch.

The README's screenshots come from here (`ATELIER_DOCS_SCREENSHOTS=1`): a real photo from
../shared/samples/content stylized with a built-in style by the default model.
"""

import base64
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.timeout(600)

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "content"
STYLE = "The Starry Night"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def sample_png(name: str, width: int) -> bytes:
    """A real photo, scaled to `width` px, as PNG (the kept pixels are compared exactly)."""
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample photo {path} is missing")
    image = Image.open(path).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def open_page(browser: Any, stack: Any, viewport: dict[str, int], **options: Any) -> Any:
    context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(f"{stack.url}/#key={stack.user_key}")
    page.wait_for_selector("#designer:not([hidden])")
    # The page opens on the built-in gallery: 16 paintings, each with its artist.
    page.wait_for_selector("label.style-card.builtin >> nth=15")
    return page


@pytest.fixture
def desktop(browser: Any, ad_stack: Any) -> Iterator[Any]:
    page = open_page(browser, ad_stack, DESKTOP)
    yield page
    page.context.close()
    assert not page.errors, f"JavaScript errors on the page: {page.errors}"


@pytest.fixture
def phone(browser: Any, ad_stack: Any) -> Iterator[Any]:
    page = open_page(browser, ad_stack, PHONE, has_touch=True, is_mobile=True)
    yield page
    page.context.close()
    assert not page.errors, f"JavaScript errors on the page: {page.errors}"


def set_photo(page: Any, name: str, data: bytes) -> None:
    page.set_input_files("#photo", files=[{"name": name, "mimeType": "image/png", "buffer": data}])
    page.wait_for_selector("#photo-preview:not([hidden])")


def drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A mouse drag on the photo, in relative coordinates of the photo preview."""
    box = page.locator("#photo-preview").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    for step in range(1, 6):
        t = step / 5
        x = start[0] + t * (end[0] - start[0])
        y = start[1] + t * (end[1] - start[1])
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
    page.mouse.up()


TOUCH_DRAG = """([start, end]) => {
    // A finger on the photo: the pointer events a touch screen sends (pointerType touch).
    const stage = document.getElementById("editor-stage");
    const r = document.getElementById("photo-preview").getBoundingClientRect();
    const at = ([x, y]) => ({clientX: r.left + x * r.width, clientY: r.top + y * r.height});
    const send = (type, p) => stage.dispatchEvent(new PointerEvent(type, {
        ...at(p), pointerId: 7, pointerType: "touch", isPrimary: true, bubbles: true,
        cancelable: true, buttons: type === "pointerup" ? 0 : 1}));
    send("pointerdown", start);
    for (let i = 1; i <= 5; i++) {
        send("pointermove", [start[0] + i / 5 * (end[0] - start[0]), start[1] + i / 5 * (end[1] - start[1])]);
    }
    send("pointerup", end);
}"""


def pick_style(page: Any, title: str = STYLE) -> None:
    page.click(f"label.style-card.builtin:has-text('{title}')")


def submitted_result(page: Any, stack: Any, tmp_path: Path) -> tuple[dict[str, Any], bytes]:
    """Submit, wait for the result on the page, download it; the job and the file's bytes."""
    page.click("#submit")
    page.wait_for_selector("#job-status:text('Done: 100%')", timeout=300_000)
    page.wait_for_selector("#download:not([hidden])")
    with page.expect_download() as info:
        page.click("#download")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with stack.client() as client:
        job = client.get(f"/v1/jobs/{page.get_attribute('#job-section', 'data-job-id')}").json()
    return job, path.read_bytes()


def pixel_box(box: list[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    return round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)


def test_the_gallery_credits_each_painting(desktop: Any, ad_stack: Any) -> None:
    """Every built-in card names the artist and the licence; its tooltip the whole credit."""
    page = desktop
    cards = page.locator("label.style-card.builtin")
    assert cards.count() == 16
    assert (
        page.locator("label.style-card.builtin small.licence").all_inner_texts()
        == ["public domain"] * 16
    )
    starry = page.locator(f"label.style-card.builtin:has-text('{STYLE}')")
    assert starry.locator("small.artist").inner_text() == "Vincent van Gogh"
    tooltip = starry.get_attribute("title") or ""
    assert tooltip.startswith(f"“{STYLE}”, Vincent van Gogh, 1889"), tooltip
    assert "Licence: public domain" in tooltip
    assert "Source: https://github.com/zhanghang1989/PyTorch-Multi-Style-Transfer/" in tooltip


def test_a_drawn_box_is_kept_photographic_in_the_result(
    desktop: Any, ad_stack: Any, screenshot: Any, tmp_path: Path
) -> None:
    page = desktop
    photo = sample_png("golden_gate.jpg", 480)
    set_photo(page, "golden-gate.png", photo)
    assert page.inner_text("label.style-card.builtin:has-text('Starry') small") == (
        "Vincent van Gogh"
    )

    drag(page, (0.03, 0.05), (0.5, 0.95))  # the left half: the bridge's tower
    page.wait_for_selector(".keep-box:not(.draft)")
    assert page.locator(".keep-box").count() == 1  # the kept region is shown before submitting
    assert "1 region kept" in page.inner_text("#editor-hint")
    box = [float(v) for v in page.get_attribute(".keep-box", "data-box").split(",")]
    assert box[0] == pytest.approx(0.03, abs=0.01) and box[2] == pytest.approx(0.5, abs=0.01)
    page.fill("#feather", "6")
    page.dispatch_event("#feather", "input")
    pick_style(page)

    job, result = submitted_result(page, ad_stack, tmp_path)
    assert job["parameters"]["keep_boxes"] == [box]
    assert job["parameters"]["feather"] == 6
    before, after = rgb(photo), rgb(result)
    assert after.shape == before.shape
    x0, y0, x1, y1 = pixel_box(box, (before.shape[1], before.shape[0]))
    # Inside the box (the feather lies outside it) the photo's pixels, within 2 per channel.
    kept = np.abs(
        after[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] - before[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]
    )
    assert kept.max() <= 2, kept.max()
    # The rest, past the feather band, was stylized.
    styled = np.abs(after[:, x1 + 8 :] - before[:, x1 + 8 :]).mean()
    assert styled > 8, styled
    page.wait_for_selector("#recent-list li img[src^='blob:']")
    page.focus("#compare-slider")
    page.keyboard.press("Home")  # the whole result: the kept tower beside the stylized bay
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "desktop", docs=True, full=False)


def test_the_dragged_crop_gives_the_format_and_the_crops_content(
    desktop: Any, ad_stack: Any, tmp_path: Path
) -> None:
    page = desktop
    # Left half red, right half blue: where the crop sits decides the result's colour.
    image = Image.new("RGB", (400, 200), (210, 40, 40))
    image.paste((40, 40, 210), (200, 0, 400, 200))
    out = io.BytesIO()
    image.save(out, format="PNG")
    set_photo(page, "halves.png", out.getvalue())

    page.select_option("#size", "1080x1080")
    page.wait_for_selector("#crop-frame:not([hidden])")
    assert page.is_checked("input[name=editor-mode][value=crop]")
    assert page.get_attribute("#crop-frame", "data-crop") == "0.25,0,0.75,1"  # centred at first
    drag(page, (0.5, 0.5), (0.95, 0.5))  # to the right, as far as it goes
    assert page.get_attribute("#crop-frame", "data-crop") == "0.5,0,1,1"
    assert page.locator(".keep-box").count() == 0  # crop mode draws no region
    page.focus("#strength")
    page.keyboard.press("Home")  # strength 0: the photo's own colours
    pick_style(page)

    job, result = submitted_result(page, ad_stack, tmp_path)
    assert job["parameters"]["output_size"] == [1080, 1080]
    assert job["parameters"]["crop"] == [0.5, 0, 1, 1]
    after = rgb(result)
    assert after.shape == (1080, 1080, 3)
    red, _, blue = after.reshape(-1, 3).mean(axis=0)
    # The right (blue) half, not the centre (half red, half blue: red and blue about equal).
    # The model still paints at strength 0: v1 kept blue about 150 levels over red, v2 55.
    assert blue > red + 30, (red, blue)

    # A custom size works the same way: WxH typed in, the window re-centred to its shape.
    page.select_option("#size", "custom")
    page.fill("#custom-width", "800")
    page.fill("#custom-height", "200")
    page.dispatch_event("#custom-height", "change")
    assert page.get_attribute("#crop-frame", "data-crop") == "0,0.25,1,0.75"


def drop_files(page: Any, selector: str, files: list[tuple[str, bytes]]) -> None:
    """Drag and drop several files onto an element, as from the desktop."""
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, b64] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], name, {type: "image/png"}));
            }
            return dt;
        }""",
        [[name, base64.b64encode(data).decode()] for name, data in files],
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_a_campaign_of_three_photos_fills_a_grid_and_downloads_as_a_zip(
    desktop: Any, ad_stack: Any, screenshot: Any, tmp_path: Path
) -> None:
    page = desktop
    names = ["chicago.jpg", "cornell.jpg", "modern.jpg"]
    drop_files(
        page, "#campaign-drop", [(n.replace(".jpg", ".png"), sample_png(n, 320)) for n in names]
    )
    page.wait_for_selector("#campaign-chosen li >> nth=2")
    assert page.inner_text("#campaign-start") == "Start campaign (3 photos)"
    pick_style(page, "The Great Wave")
    page.select_option("#size", "1080x1080")

    page.evaluate(
        """window.__counts = [];
        new MutationObserver(() => window.__counts.push(
            document.querySelectorAll("#campaign-grid img[src^='blob:']").length))
          .observe(document.getElementById("campaign-grid"), {subtree: true, attributes: true});"""
    )
    page.click("#campaign-start")
    page.wait_for_selector("#campaign-grid li >> nth=2")  # the grid, before the results
    page.wait_for_selector("#campaign-status:text('Campaign succeeded')", timeout=300_000)
    page.wait_for_selector("#campaign-grid li:nth-child(3) img[src^='blob:']")
    counts = page.evaluate("window.__counts")
    assert counts[-1] == 3 and any(0 < n < 3 for n in counts), counts  # one result at a time
    assert page.get_attribute("#campaign-progress", "value") == "100"
    screenshot(page, "campaign", docs=True, element="#campaign")

    with page.expect_download() as info:
        page.click("#campaign-download")
    assert info.value.suggested_filename.endswith(".zip")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        entries = sorted(n for n in archive.namelist() if n != "CREDITS.txt")
        sizes = [Image.open(io.BytesIO(archive.read(n))).size for n in entries]
        credits = archive.read("CREDITS.txt").decode("utf-8")
    assert '"The Great Wave off Kanagawa" by Katsushika Hokusai; licence: public domain' in credits
    assert [e.split("__")[0] for e in entries] == ["001-chicago", "002-cornell", "003-modern"]
    assert sizes == [(1080, 1080)] * 3


def test_the_phone_width_works_with_touch(
    phone: Any, ad_stack: Any, screenshot: Any, tmp_path: Path
) -> None:
    page = phone
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    photo = sample_png("cornell.jpg", 480)
    set_photo(page, "cornell.png", photo)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.evaluate(TOUCH_DRAG, [[0.4, 0.05], [0.75, 0.8]])  # a finger marks the tower
    box = [float(v) for v in page.get_attribute(".keep-box", "data-box").split(",")]
    assert box == pytest.approx([0.4, 0.05, 0.75, 0.8], abs=0.01)
    pick_style(page, "The Scream")
    job, result = submitted_result(page, ad_stack, tmp_path)
    before, after = rgb(photo), rgb(result)
    x0, y0, x1, y1 = pixel_box(box, (before.shape[1], before.shape[0]))
    kept = np.abs(
        after[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] - before[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]
    )
    assert kept.max() <= 2, kept.max()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.focus("#compare-slider")
    page.keyboard.press("Home")
    page.locator("#job-section").evaluate("(el) => el.scrollIntoView({block: 'start'})")
    screenshot(page, "phone", docs=True, full=False)

    # The crop window is dragged with a finger too.
    page.select_option("#size", "1080x1920")
    start = page.get_attribute("#crop-frame", "data-crop")
    page.evaluate(TOUCH_DRAG, [[0.5, 0.5], [0.05, 0.5]])
    assert page.get_attribute("#crop-frame", "data-crop") != start
    assert page.get_attribute("#crop-frame", "data-crop").startswith("0,0,")
