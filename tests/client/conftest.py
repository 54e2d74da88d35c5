"""Fixtures for the Python client's tests: the service served for real (uvicorn and, where jobs
must run, a Celery worker) on the embedded stack and on Redis + PostgreSQL, built by the service
tests' own `make_stack`, and the client package's OpenAPI view of that service."""

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from atelier_client import Client

TESTS = Path(__file__).resolve().parents[1]


def _load(relative: str, name: str) -> ModuleType:
    """A module of another test folder, by path (tests/ is not a package), loaded once."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / relative)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


service = _load("service/stacks.py", "atelier_service_stacks")
helpers = _load("service/service_helpers.py", "atelier_service_helpers")

# The service tests' tiny trained model (session-scoped: trained once per run).
builtin_model_file = _load("service/tiny_model.py", "atelier_service_tiny_model").builtin_model_file


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        served = {"stack", "idle_stack", "video_stack"} & set(getattr(item, "fixturenames", ()))
        if Path(str(item.fspath)).is_relative_to(here) and served:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module", params=service.STACKS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The API and one worker, served on each stack (shared by a module's tests)."""
    with service.make_stack(request.param, tmp_path_factory.mktemp(request.param)) as served:
        served.start_api()
        served.start_worker()
        yield served


@pytest.fixture(scope="module", params=service.STACKS)
def idle_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The API served on each stack with no worker: a submitted job stays queued until the
    test cancels it (and a refusal is the API's alone)."""
    with service.make_stack(request.param, tmp_path_factory.mktemp(request.param)) as served:
        served.start_api()
        yield served


@pytest.fixture(scope="module", params=service.STACKS)
def video_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    builtin_model_file: Path,
) -> Iterator[Any]:
    """The API (with the built-in styles) and one worker on each stack, the tiny test model
    uploaded and activated by an admin first: a clip runs on a GAN model, there is no
    optimisation method for video."""
    with service.make_stack(request.param, tmp_path_factory.mktemp(request.param)) as served:
        served.env["ATELIER_BUILTIN_STYLES"] = "true"
        served.start_api()
        with Client(served.url, served.admin_key) as admin:
            admin.models.activate(admin.models.upload(builtin_model_file, name="tiny").id)
        # The torch backend, as tests/service/test_video_api.py runs it: `auto` would export
        # and measure every backend at the worker's warm-up (minutes on a busy 2-core CPU).
        served.start_worker(ATELIER_BACKEND="torch")
        yield served


@pytest.fixture
def make_photo() -> Any:
    """`make_photo((width, height), seed)`: a gradient PNG (not flat: styling shows)."""
    return helpers.gradient_png


@pytest.fixture
def photo() -> bytes:
    return bytes(helpers.gradient_png((48, 40), 1))


@pytest.fixture
def painting() -> bytes:
    return bytes(helpers.gradient_png((40, 40), 2))


@pytest.fixture
def webhook_receiver() -> Iterator[Any]:
    """A loopback receiver recording each delivery as (headers, body, when)."""
    receiver = helpers.WebhookReceiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def signing_secret() -> str:
    """The served stacks' ATELIER_WEBHOOK_SECRET, as an operator hands it out (whsec_...)."""
    return str(service.WEBHOOK_SECRET)


@pytest.fixture
def wait_until() -> Any:
    """`wait_until(condition, seconds, what)`: poll, failing with `what` past the time."""
    return service.wait_until


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    return int(service.free_port())
