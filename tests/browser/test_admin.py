"""The admin section in headless Chromium: style and content sets, a tiny fine-tuning on the real
training worker with its progress, loss chart and preview, then the registry's gate, activate and
roll back."""

import pytest

pytestmark = pytest.mark.timeout(420)

# Every progress value the training bar shows, recorded as it changes.
WATCH_TRAINING = """
window.__trainSeen = [];
const bar = document.getElementById("train-progress");
new MutationObserver(() => window.__trainSeen.push(bar.value))
  .observe(document.getElementById("train-status"), {childList: true, characterData: true, subtree: true});
"""


def files(make_photo, seeds: list[int], prefix: str) -> list[dict[str, object]]:
    return [
        {"name": f"{prefix}{s}.png", "mimeType": "image/png", "buffer": make_photo((48, 48), s)}
        for s in seeds
    ]


def create_set(page, kind: str, name: str, uploads: list[dict[str, object]]) -> None:
    page.select_option("#set-kind", kind)
    page.fill("#set-name", name)
    page.set_input_files("#set-files", files=uploads)
    page.click("#set-form button[type=submit]")
    page.wait_for_selector(f"#set-list li:has(strong:text-is('{name}'))")


def test_admin_fine_tunes_watches_progress_and_manages_models(page, stack, make_photo, screenshot):
    page.goto(f"{stack.url}/#key={stack.admin_key}")
    page.wait_for_selector("#admin:not([hidden])")
    assert "admin key" in page.inner_text("#who")
    page.wait_for_selector("#sets-tools:not([hidden])")

    # A style set with an exact duplicate among its paintings: the data check reports it.
    paintings = files(make_photo, [11, 12, 13], "painting")
    create_set(page, "style", "Test paintings", [*paintings, {**paintings[0], "name": "copy.png"}])
    report = page.text_content("#set-list li:has(strong:text-is('Test paintings')) .checks")
    assert "copy.png is the same image as painting11.png" in report
    assert "3 images" in page.inner_text("#set-list li:has(strong:text-is('Test paintings'))")
    create_set(page, "content", "Test photos", files(make_photo, [21, 22, 23, 24], "photo"))
    # The new style set is offered to designers in the gallery too, and stylizes a photo.
    page.set_input_files("#photo", files=files(make_photo, [31], "photo"))
    page.click("#style-gallery .style-card:has-text('Test paintings')")
    page.select_option("#method", "optimisation")  # no GAN model yet
    page.click("#submit")
    page.wait_for_selector("#download:not([hidden])", timeout=120_000)
    with stack.client(stack.admin_key) as client:
        job = client.get("/v1/jobs", params={"kind": "stylize", "limit": 1}).json()["data"][0]
    assert job["status"] == "succeeded" and job["style_set_id"]

    page.select_option("#train-set", label="Test paintings")
    page.select_option("#train-content-set", label="Test photos")
    page.fill("#train-name", "tiny")
    page.fill("#train-steps", "60")
    page.fill("#train-size", "32")
    page.fill("#train-batch", "2")
    page.fill("#train-preview-every", "10")
    page.evaluate(WATCH_TRAINING)
    page.click("#train-form button[type=submit]")
    page.wait_for_selector("#train-status.status-succeeded", timeout=300_000)

    seen = page.evaluate("window.__trainSeen")
    moving = sorted({v for v in seen if 0 < v < 100})
    assert moving, f"no progress between 0 and 100% was shown: {seen}"
    assert seen[-1] == 100 and seen == sorted(seen), seen  # it only moves forward
    assert int(page.get_attribute("#loss-chart", "data-points") or 0) >= 2
    assert page.locator("#loss-chart polyline").count() >= 2  # one line per loss
    page.wait_for_selector("#train-preview[src^='blob:']")

    # The registered model: evaluation, contact sheet, and a failed gate (no baseline to beat),
    # so activating needs a reason.
    model = page.locator("#model-list li:has(strong:text('tiny'))")
    model.locator("img.sheet[src^='blob:']").wait_for()
    assert "Quality gate: failed" in model.inner_text()
    assert model.locator("table.metrics td").count() >= 2
    model.locator("button:text('Activate anyway')").click()
    page.wait_for_selector("#models-error:text('Say why')")
    model.locator("input[type=text]").fill("first model; contact sheet reviewed")
    model.locator("button:text('Activate anyway')").click()
    page.wait_for_selector("#model-list li:has(strong:text('tiny (active)'))")
    screenshot(page, "admin")

    page.click("#rollback")
    page.wait_for_selector("#model-list li:has(strong:text-is('tiny'))")
    with stack.client(stack.admin_key) as client:
        models = client.get("/v1/models").json()["data"]
        actions = [a["action"] for a in client.get("/v1/models/activations").json()["data"]]
    assert [m["is_active"] for m in models] == [False]
    assert actions[:1] == ["rollback"]
