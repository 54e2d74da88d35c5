"""The page's video card in headless Chromium, against a real API and worker with the built-in
styles and the shipped model: a clip's first frame stylized as a preview, the whole clip
followed to a player of the clip beside its result (which plays), and a clip canceled while
the page shows its percent, ETA and frames.

Clips are made here with PyAV (H.264, yuv420p), small enough for a few seconds of CPU.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from test_ads import DESKTOP, PHONE, open_page, pick_style

from tests.models.video_clips import clip_bytes

pytestmark = pytest.mark.timeout(600)

FPS = 12

# Each #video-status text the page shows, recorded as it changes.
WATCH_STATUS = """
window.__seen = [];
const status = document.getElementById("video-status");
new MutationObserver(() => window.__seen.push(status.textContent))
  .observe(status, {childList: true, characterData: true, subtree: true});
"""

# The mean difference (0..255) between two images on the page, drawn at the first one's size.
IMAGE_DIFFERENCE = """([a, b]) => {
    const [x, y] = [a, b].map((id) => document.getElementById(id));
    const w = x.naturalWidth, h = x.naturalHeight;
    const pixels = (img) => {
        const canvas = Object.assign(document.createElement("canvas"), {width: w, height: h});
        const ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0, w, h);
        return ctx.getImageData(0, 0, w, h).data;
    };
    const p = pixels(x), q = pixels(y);
    let sum = 0;
    for (let i = 0; i < p.length; i += 4) {
        sum += Math.abs(p[i] - q[i]) + Math.abs(p[i + 1] - q[i + 1]) + Math.abs(p[i + 2] - q[i + 2]);
    }
    return sum / (3 * w * h);
}"""

VIDEO_STATE = """(id) => {
    const v = document.getElementById(id);
    return {src: v.getAttribute("src") || "", poster: v.getAttribute("poster") || "",
            readyState: v.readyState, width: v.videoWidth, height: v.videoHeight,
            duration: v.duration, error: v.error && v.error.code};
}"""


def set_clip(page: Any, name: str, data: bytes) -> None:
    page.set_input_files(
        "#video-file", files=[{"name": name, "mimeType": "video/mp4", "buffer": data}]
    )


@pytest.fixture
def desktop(browser: Any, video_stack: Any) -> Iterator[Any]:
    page = open_page(browser, video_stack, DESKTOP)
    yield page
    page.context.close()
    assert not page.errors, f"JavaScript errors on the page: {page.errors}"


def test_a_clip_previews_its_first_frame_then_plays_beside_its_stylized_result(
    desktop: Any, video_stack: Any, screenshot: Any
) -> None:
    page = desktop
    pick_style(page)
    style_id = page.get_attribute("label.style-card.builtin:has-text('Starry') input", "value")
    set_clip(page, "clip.mp4", clip_bytes(128, 96, FPS, FPS))  # one second

    # The first frame, grabbed by the browser, then stylized as a still by the GAN.
    page.wait_for_selector("#video-frame[src^='blob:']")
    page.wait_for_function(
        "() => { const i = document.getElementById('video-preview');"
        " return i.getAttribute('src') && i.complete && i.naturalWidth > 0; }",
        timeout=180_000,
    )
    size = page.evaluate(
        "['video-frame', 'video-preview'].map((id) => {"
        " const i = document.getElementById(id); return [i.naturalWidth, i.naturalHeight]; })"
    )
    assert size == [[128, 96], [128, 96]], size
    assert page.evaluate(IMAGE_DIFFERENCE, ["video-frame", "video-preview"]) > 10  # styled
    assert page.inner_text("#video-preview-status") == "The first frame, stylized"
    with video_stack.client() as client:
        [still] = client.get("/v1/jobs", params={"limit": 1}).json()["data"]
    assert still["kind"] == "stylize" and still["status"] == "succeeded", still
    assert still["style_id"] == style_id.removeprefix("style:")
    assert still["parameters"]["method"] == "gan" and still["parameters"]["strength"] == 1.0

    # The whole clip: followed to the end, then the clip beside its result.
    page.evaluate(WATCH_STATUS)
    page.click("#video-start")
    page.wait_for_selector("#video-result:not([hidden])", timeout=300_000)
    seen = page.evaluate("window.__seen")
    assert seen[-1] == "Done: 100%", seen
    assert page.is_hidden("#video-cancel")
    job_id = page.get_attribute("#video-run", "data-job-id")
    with video_stack.client() as client:
        job = client.get(f"/v1/jobs/{job_id}").json()
        result = client.get(job["result_url"])
    assert job["kind"] == "video" and job["status"] == "succeeded", job
    assert job["style_id"] == still["style_id"] and job["parameters"]["clip"]["frames"] == FPS
    assert result.headers["content-type"] == "video/mp4"
    assert page.get_attribute("#video-download", "download") == f"atelier-{job_id}.mp4"
    assert page.get_attribute("#video-download", "href").startswith("blob:")

    output = page.evaluate(VIDEO_STATE, "video-output")
    assert output["src"].startswith("blob:") and output["poster"].startswith("blob:"), output
    source_box = page.locator("#video-source").bounding_box()
    output_box = page.locator("#video-output").bounding_box()
    assert source_box["x"] + source_box["width"] <= output_box["x"] + 1  # side by side
    assert abs(source_box["y"] - output_box["y"]) < 2 and output_box["width"] > 100

    codec = 'video/mp4; codecs="avc1.42E01E"'
    if not page.evaluate("(type) => document.createElement('video').canPlayType(type)", codec):
        screenshot(page, "video-desktop", element="#video")
        pytest.skip(f"this Chromium cannot decode H.264 (canPlayType({codec!r}) is empty)")
    page.wait_for_function(
        "() => ['video-source', 'video-output'].every((id) =>"
        " document.getElementById(id).readyState >= 2)"
    )
    screenshot(page, "video-desktop", element="#video")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size(DESKTOP)
    source = page.evaluate(VIDEO_STATE, "video-source")
    output = page.evaluate(VIDEO_STATE, "video-output")
    assert (output["width"], output["height"]) == (128, 96), output
    assert abs(output["duration"] - source["duration"]) < 1.5 / FPS, (source, output)
    # It plays: time moves on, to the end.
    page.evaluate(
        "async () => { const v = document.getElementById('video-output');"
        " v.muted = true; await v.play(); }"
    )
    page.wait_for_function("() => document.getElementById('video-output').ended", timeout=10_000)
    assert page.evaluate("document.getElementById('video-output').error") is None


def test_a_clip_shows_percent_eta_and_frames_and_can_be_canceled(
    desktop: Any, video_stack: Any
) -> None:
    page = desktop
    frames = 30 * FPS  # long enough to be canceled well before its end
    set_clip(page, "long.mp4", clip_bytes(64, 48, frames, FPS))
    # No style yet: the first frame shows, and the gallery asks for one.
    page.wait_for_selector("#video-frame[src^='blob:']")
    page.wait_for_selector("#video-preview-status:text('Pick a style above')")
    assert "Pick a style" in page.inner_text("#style-error")
    assert page.get_attribute("#video-preview", "src") is None
    pick_style(page)
    page.click("#video-start")
    # While it runs: percent, the time left and the frames done, as the job reports them.
    page.wait_for_function(
        "(frames) => new RegExp(`s left · frame \\\\d+ of ${frames}$`)"
        ".test(document.getElementById('video-status').textContent)",
        arg=frames,
    )
    text = page.inner_text("#video-status")
    assert text.startswith("Working: ") and "%" in text, text
    page.click("#video-cancel")
    page.wait_for_selector("#video-status:text('Canceled')", timeout=60_000)
    assert page.is_hidden("#video-cancel") and page.is_hidden("#video-result")
    assert page.is_hidden("#video-download")
    with video_stack.client() as client:
        job = client.get(f"/v1/jobs/{page.get_attribute('#video-run', 'data-job-id')}").json()
    assert job["status"] == "canceled" and job["progress_info"]["frames_done"] < frames, job
