"""Browser tests: headless Chromium (Debian's `chromium`, driven by Playwright for Python with the
system browser) against a real uvicorn API and a real Celery worker on the embedded stack.

Screenshots go to `artifacts/screenshots/` and their paths are listed at the end of the run;
`ATELIER_DOCS_SCREENSHOTS=1` also copies the README's screenshots into `docs/screenshots/`.
"""

import contextlib
import importlib.util
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

CHROMIUM = Path(os.environ.get("ATELIER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

_saved: list[Path] = []


def _load_service_stacks() -> Any:
    # tests/ is not a package: load the service tests' stack helpers by path.
    path = REPO / "tests" / "service" / "stacks.py"
    spec = importlib.util.spec_from_file_location("atelier_service_stacks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


service = _load_service_stacks()


def _why_no_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = _why_no_browser()
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {reason}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _saved:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in _saved:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The embedded stack with its API and one worker (both queues) running."""
    with service.make_stack("embedded", tmp_path_factory.mktemp("browser")) as stack:
        stack.start_api()
        stack.start_worker()
        yield stack


@contextlib.contextmanager
def deployed_stack(root: Path, **worker_env: str) -> Iterator[Any]:
    """The embedded stack with the built-in styles and the shipped model, as deployed; its
    worker with `worker_env` besides the stack's."""
    from app import crud
    from app.db import make_engine, make_sessionmaker
    from app.storage import LocalStorage
    from contracts.modelfile import SHIPPED_MODEL

    with service.make_stack("embedded", root) as stack:
        stack.env.update(
            ATELIER_BUILTIN_STYLES="true",
            ATELIER_BUILTIN_MODEL=str(SHIPPED_MODEL),
            ATELIER_ENCODER="efficientnet-lite0",
            ATELIER_MAX_UPLOAD_BYTES=str(4 * 1024 * 1024),
        )
        engine = make_engine(stack.settings.sqlalchemy_url)
        with make_sessionmaker(engine)() as session:
            done = crud.register_builtin_model(
                session,
                storage=LocalStorage(stack.settings.storage_path),
                path=Path(SHIPPED_MODEL),
            )
        engine.dispose()
        assert "registered" in done, done
        stack.start_api()
        stack.start_worker(**worker_env)
        yield stack


@pytest.fixture(scope="module")
def ad_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The embedded stack with the built-in styles and the shipped model, as deployed."""
    with deployed_stack(tmp_path_factory.mktemp("ads")) as stack:
        yield stack


@pytest.fixture(scope="module")
def video_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """As `ad_stack`, its worker on the torch backend: `auto` would export and measure every
    backend at the worker's warm-up (minutes on a busy 2-core machine), and which backend runs
    the frames is not what the page's tests are about."""
    with deployed_stack(tmp_path_factory.mktemp("video"), ATELIER_BACKEND="torch") as stack:
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, stack: Any) -> Iterator[Any]:
    """A fresh browser profile (empty localStorage) at desktop size; console errors fail the
    test, since a broken script would otherwise show up only as a missing element."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.base_url = stack.url  # type: ignore[attr-defined]
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}\n{stack.all_logs()}"


@pytest.fixture
def screenshot() -> Any:
    """`screenshot(page, name, docs=False, element=None, full=True)`: save a full-page PNG
    (one element's, or the window's) under artifacts/screenshots/."""

    def take(
        page: Any, name: str, docs: bool = False, element: str | None = None, full: bool = True
    ) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if element:  # one part of the page (a README figure), not the whole scroll
            page.locator(element).screenshot(path=str(path))
        else:  # the whole page, or (full=False) what the window shows
            page.screenshot(path=str(path), full_page=full)
        _saved.append(path)
        if docs and os.environ.get("ATELIER_DOCS_SCREENSHOTS") == "1":
            # The committed copies: 256 colours keep them small in the repository.
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            small = Image.open(path).convert("RGB").quantize(256)
            small.save(DOCS_SCREENSHOTS / path.name, optimize=True)
        return path

    return take


def gradient_png(size: tuple[int, int], seed: int) -> bytes:
    """A photo stand-in: a gradient with a seed-dependent tint (not flat, so styling shows)."""
    width, height = size
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 255) // width, (y * 255) // height, (seed * 80 + x * y) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def make_photo() -> Any:
    return gradient_png
