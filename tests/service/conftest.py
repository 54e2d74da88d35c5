"""Fixtures for the service tests: a migrated embedded stack in a temporary folder, API keys,
image factories, and a snapshot of storage + database to prove rejected requests wrote nothing.

What the fixtures build lives beside this file: the in-process API (`embedded_api`), the
end-to-end stacks of real processes (`stacks`), the tiny stand-in model (`tiny_model`) and the
in-process worker's runtime (`in_process_worker`); the last two's fixtures are imported here for
pytest to find. `REPO` and `embedded_settings` are imported here too, for test_graph_cache.py's
`from conftest import ...`.
"""

import base64
import contextlib
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from embedded_api import Api, open_api
from embedded_api import embedded_settings as embedded_settings
from in_process_worker import runtime as runtime
from PIL import Image
from stacks import (
    BROKER_STACKS,
    E2E_ENV,
    REDIS_URL,
    STACKS,
    WEBHOOK_SECRET,
    Stack,
    free_port,
    make_stack,
    postgres_unavailable,
    redis_unavailable,
    scratch_postgres_database,
    wait_until,
)
from stacks import REPO as REPO
from tiny_model import builtin_model_file as builtin_model_file

from app.db import upgrade


def png_bytes(
    size: tuple[int, int] = (32, 24), mode: str = "RGB", color: object = None, **save: object
) -> bytes:
    image = Image.new(mode, size, color if color is not None else _default_color(mode))
    out = io.BytesIO()
    image.save(out, format=str(save.pop("format", "PNG")), **save)
    return out.getvalue()


def _default_color(mode: str) -> object:
    return {"RGB": (200, 30, 60), "RGBA": (10, 200, 30, 128), "L": 128, "CMYK": (0, 255, 0, 0)}.get(
        mode, 1000
    )


@pytest.fixture
def make_png():  # noqa: ANN201
    """The `png_bytes` factory (tests use fixtures, not imports: tests/ is not a package)."""
    return png_bytes


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The API in-process (httpx against the ASGI app) on a migrated embedded stack."""
    with open_api(tmp_path / "data") as api:
        yield api


@pytest.fixture
def api_with(tmp_path: Path) -> Callable[..., contextlib.AbstractContextManager[Api]]:
    """Like `api`, with settings overridden: `with api_with(max_pixels=...) as api:`."""
    return lambda **overrides: open_api(tmp_path / "data", **overrides)


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], tuple[str, int]]]:
    """Serve an ASGI app with a real uvicorn in a thread: `host, port = live_server(app)`."""
    import threading

    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any) -> tuple[str, int]:
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        wait_until(lambda: server.started, 10, f"uvicorn on port {port} did not start")
        return "127.0.0.1", port

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def redis_url() -> str:
    """The test Redis server's URL (the test is skipped, saying why, when it does not answer)."""
    reason = redis_unavailable()
    if reason:
        pytest.skip(reason)
    return REDIS_URL


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`running_stack` and `fresh_stack` run on every broker; the RabbitMQ runs are kept only
    for the tests marked `every_broker`, so the rest of the suite does not run three times."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        on_rabbitmq = params is not None and "rabbitmq_postgres" in params.params.values()
        marked = item.get_closest_marker("every_broker") is not None
        (drop if on_rabbitmq and not marked else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="module", params=BROKER_STACKS)
def running_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack with its API and one worker running, shared by a module's tests."""
    with make_stack(request.param, tmp_path_factory.mktemp(request.param)) as stack:
        stack.start_api()
        stack.start_worker()
        yield stack


@pytest.fixture(params=BROKER_STACKS)
def fresh_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """A stack with its API running and no worker: the test starts (and kills) its own."""
    with make_stack(request.param, tmp_path) as stack:
        stack.start_api()
        yield stack


@pytest.fixture(params=STACKS)
def stack_with(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[..., contextlib.AbstractContextManager[Stack]]:
    """Like `fresh_stack`, with environment overrides for the API:
    `with stack_with(ATELIER_DB_POOL_SIZE="1") as stack:`."""

    @contextlib.contextmanager
    def _open(**env: str) -> Iterator[Stack]:
        with make_stack(request.param, tmp_path) as stack:
            stack.env.update(env)
            stack.start_api()
            yield stack

    return _open


@pytest.fixture
def e2e_env() -> dict[str, str]:
    """The environment for service subprocesses: no inherited ATELIER_*, fast test settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    return {**base, **E2E_ENV}


@pytest.fixture
def free_port_fixture() -> Callable[[], int]:
    return free_port


@pytest.fixture
def webhook_secret() -> bytes:
    return base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3-compatible server on the loopback address (skipped, with the reason,
    when `moto[server]` is not installed)."""
    import shutil

    server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(server).exists():
        pytest.skip("moto_server not installed (pip install 'moto[server]')")
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(endpoint, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, 30, f"moto_server on port {port} did not start")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A new bucket on the moto server; the environment that points a process at it."""
    import boto3

    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"atelier-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    return {
        **S3_CREDENTIALS,
        "ATELIER_STORAGE_URL": f"s3://{bucket}/atelier",
        "ATELIER_S3_ENDPOINT_URL": moto_endpoint,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a migrated, empty job store of each kind (no API, no broker)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'atelier.db'}"
        upgrade(url)
        yield url
        return
    reason = postgres_unavailable()
    if reason:
        pytest.skip(f"PostgreSQL not reachable: {reason}")
    with scratch_postgres_database() as url:
        upgrade(url)
        yield url
