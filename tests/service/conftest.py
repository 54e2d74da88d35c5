"""Fixtures for the service tests: a migrated embedded stack in a temporary folder, API keys,
image factories, and a snapshot of storage + database to prove rejected requests wrote nothing."""

import base64
import contextlib
import io
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, make_url, select

from app import crud
from app.config import Settings
from app.db import make_engine, make_sessionmaker, upgrade
from app.main import create_app
from app.tables import ApiKey, Job, ModelFile, StoredImage, Style


def embedded_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "run_reaper": False,
        "max_upload_bytes": 256 * 1024,
        "max_pixels": 1_000_000,
        "max_upload_side": 2048,
        "encoder": "random",
        "optimisation_steps": 3,
        "optimisation_size": 64,
        "builtin_model": "",  # tests that want one name their own tiny file
        "builtin_styles": False,  # tests that want them ask (listings stay the test's own)
        "graph_cache_dir": os.environ["ATELIER_GRAPH_CACHE"],  # one export per session
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


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


@dataclass
class Api:
    client: TestClient
    settings: Settings
    user_key: str
    other_key: str
    admin_key: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.user_key}"}

    def state(self) -> dict[str, object]:
        """What a rejected request must leave unchanged: stored files, row counts, and the
        folder a clip is spooled to while it streams in (empty between requests)."""
        app_state = self.client.app.state  # type: ignore[attr-defined]
        with app_state.sessionmaker() as session:
            counts = {
                table.__tablename__: session.scalar(select(func.count()).select_from(table))
                for table in (Job, StoredImage, Style, ModelFile, ApiKey)
            }
        return {"files": app_state.storage.keys(), "rows": counts, "uploads": self.uploads()}

    def uploads(self) -> list[Path]:
        """The files in the upload (spool) folder."""
        folder = self.settings.upload_path
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []

    def submit(self, key: str | None = None, **files_and_fields: object) -> object:
        files = {k: v for k, v in files_and_fields.items() if isinstance(v, tuple)}
        data = {k: v for k, v in files_and_fields.items() if not isinstance(v, tuple)}
        data.setdefault("method", "optimisation")  # no model in these tests unless they add one
        return self.client.post(
            "/v1/stylizations", headers=self.headers(key), files=files, data=data
        )


@pytest.fixture
def make_png():  # noqa: ANN201
    """The `png_bytes` factory (tests use fixtures, not imports: tests/ is not a package)."""
    return png_bytes


def open_api(data_dir: Path, **overrides: object) -> contextlib.AbstractContextManager[Api]:
    @contextlib.contextmanager
    def _open() -> Iterator[Api]:
        settings = embedded_settings(data_dir, **overrides)
        upgrade(settings.sqlalchemy_url)
        engine = make_engine(settings.sqlalchemy_url)
        with make_sessionmaker(engine)() as session:
            _, user = crud.create_api_key(session, name="user", is_admin=False)
            _, other = crud.create_api_key(session, name="other", is_admin=False)
            _, admin = crud.create_api_key(session, name="admin", is_admin=True)
        engine.dispose()
        with TestClient(create_app(settings)) as client:
            yield Api(client, settings, user, other, admin)

    return _open()


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


# --- end-to-end stacks: real uvicorn and celery worker subprocesses ------------------------------

REPO = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get(
    "ATELIER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ATELIER_TEST_REDIS", "redis://127.0.0.1:6379/11")
RABBITMQ_URL = os.environ.get("ATELIER_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"test-secret-for-webhooks-32bytes").decode()
E2E_ENV = {
    "ATELIER_ENCODER": "random",
    # Every worker of the session keeps exported graphs in one folder (tests/conftest.py).
    "ATELIER_GRAPH_CACHE_DIR": os.environ["ATELIER_GRAPH_CACHE"],
    "ATELIER_OPTIMISATION_STEPS": "4",
    "ATELIER_OPTIMISATION_SIZE": "64",
    "ATELIER_DEVICE": "cpu",
    "ATELIER_BUILTIN_MODEL": "",  # tests that want one name their own tiny file
    "ATELIER_BUILTIN_STYLES": "false",  # tests that want them ask
    "ATELIER_HEARTBEAT_INTERVAL_S": "0.5",
    "ATELIER_HEARTBEAT_TIMEOUT_S": "4",
    "ATELIER_REAPER_INTERVAL_S": "0.5",
    "ATELIER_CANCEL_CHECK_INTERVAL_S": "0.1",
    "ATELIER_MAX_UPLOAD_BYTES": str(1024 * 1024),
    "ATELIER_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "ATELIER_WEBHOOK_BACKOFF_S": "0.3",
    "ATELIER_WEBHOOK_ALLOW_PRIVATE": "true",  # the test receiver listens on loopback
    # `Prefer: wait` on Redis / PostgreSQL must be woken by the worker's notification; the
    # fallback poll is made too slow to pass for it (test_fast_path.py).
    "ATELIER_WAIT_FALLBACK_POLL_S": "60",
}


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; past `timeout` seconds fail, saying `what` never
    happened (a wait that runs out never passes silently)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {timeout:g} s)")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_unavailable() -> str | None:
    try:
        import psycopg

        url = make_url(PG_URL)
        for user in (url.username, "root"):
            try:
                with psycopg.connect(
                    host=url.host,
                    port=url.port or 5432,
                    dbname=url.database,
                    user=user,
                    connect_timeout=2,
                ):
                    return None
            except psycopg.OperationalError as exc:
                error = str(exc)
        return f"PostgreSQL at {url.host}:{url.port} refused: {error.strip()}"
    except Exception as exc:
        return f"PostgreSQL unavailable: {exc}"


def redis_unavailable() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:
        return f"Redis at {REDIS_URL} unavailable: {exc}"


def rabbitmq_unavailable() -> str | None:
    try:
        from kombu import Connection

        with Connection(RABBITMQ_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return None
    except Exception as exc:
        return f"RabbitMQ at {urlsplit(RABBITMQ_URL).hostname} unavailable: {exc}"


@contextlib.contextmanager
def scratch_rabbitmq_vhost() -> Iterator[str]:
    """A broker URL on a new virtual host (deleted afterwards) where `rabbitmqctl` runs here,
    so that no message of an earlier run reaches this one; else the test URL itself."""
    import shutil

    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        yield RABBITMQ_URL
        return
    vhost = f"atelier-test-{uuid.uuid4().hex[:8]}"
    user = urlsplit(RABBITMQ_URL).username or "guest"
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        [ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        parts = urlsplit(RABBITMQ_URL)
        yield f"{parts.scheme}://{parts.netloc}/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True)


@pytest.fixture
def redis_url() -> str:
    """The test Redis server's URL (the test is skipped, saying why, when it does not answer)."""
    reason = redis_unavailable()
    if reason:
        pytest.skip(reason)
    return REDIS_URL


@contextlib.contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    import psycopg

    url = make_url(PG_URL)
    name = f"atelier_test_{uuid.uuid4().hex[:10]}"
    conninfo = dict(host=url.host, port=url.port or 5432, dbname=url.database, user=url.username)
    with psycopg.connect(**conninfo, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(**conninfo, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stack:
    """One deployment under test: its settings as environment, an API and worker processes."""

    def __init__(self, name: str, root: Path, env: dict[str, str]) -> None:
        self.name, self.root = name, root
        base = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        self.env = {**base, **E2E_ENV, "ATELIER_DATA_DIR": str(root / "data"), **env}
        self.settings = Settings(
            **{
                k.removeprefix("ATELIER_").lower(): v
                for k, v in self.env.items()
                if k.startswith("ATELIER_") and not k.startswith("ATELIER_TEST")
            }
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_proc: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        upgrade(self.settings.sqlalchemy_url)
        engine = make_engine(self.settings.sqlalchemy_url)
        with make_sessionmaker(engine)() as session:
            _, self.user_key = crud.create_api_key(session, name="user", is_admin=False)
            _, self.admin_key = crud.create_api_key(session, name="admin", is_admin=True)
        engine.dispose()

    def _spawn(self, argv: list[str], log: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = open(self.root / log, "ab")  # noqa: SIM115  (closed with the process)
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

    def start_api(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        self.api_proc = self._spawn(argv, "api.log", self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.api_proc.poll() is not None:
                raise RuntimeError(f"API exited:\n{self.logs('api.log')}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"API did not start:\n{self.logs('api.log')}")

    def start_worker(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """A worker process; `args` go to `atelier worker` (e.g. "-Q", "training")."""
        argv = [
            sys.executable,
            "-c",
            "from cli.main import main; main()",
            "worker",
            "--loglevel",
            "INFO",
            *args,
        ]
        proc = self._spawn(argv, f"worker{len(self.workers)}.log", {**self.env, **env})
        self.workers.append(proc)
        return proc

    def logs(self, name: str) -> str:
        path = self.root / name
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{self.logs(p.name)}" for p in sorted(self.root.glob("*.log"))
        )

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key or self.user_key}"},
            timeout=30,
        )

    def wait_job(
        self,
        client: httpx.Client,
        job_id: str,
        until: Callable[[dict[str, Any]], bool],
        timeout: float = 60,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if until(job):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job never reached the state; last: {job}\n{self.all_logs()}")

    def stop(self) -> None:
        for proc in [*self.workers, self.api_proc]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.api_proc]:
            if proc is not None:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


STACKS = ["embedded", "redis_postgres"]
# Tests marked `every_broker` (end to end, the SIGKILL fault) also run on RabbitMQ.
BROKER_STACKS = [*STACKS, "rabbitmq_postgres"]


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


@contextlib.contextmanager
def make_stack(kind: str, root: Path) -> Iterator[Stack]:
    if kind == "embedded":
        stack = Stack(kind, root, {})
        try:
            yield stack
        finally:
            stack.stop()
        return
    if kind == "rabbitmq_postgres":
        reason = postgres_unavailable() or rabbitmq_unavailable()
        if reason:
            pytest.skip(f"RabbitMQ + PostgreSQL stack not reachable: {reason}")
        broker: contextlib.AbstractContextManager[str] = scratch_rabbitmq_vhost()
        prefix = ""
    else:
        reason = postgres_unavailable() or redis_unavailable()
        if reason:
            pytest.skip(f"Redis + PostgreSQL stack not reachable: {reason}")
        broker = contextlib.nullcontext(REDIS_URL)
        prefix = f"atelier-test-{uuid.uuid4().hex[:8]}:"
    with scratch_postgres_database() as db_url, broker as broker_url:
        stack = Stack(
            kind,
            root,
            {
                "ATELIER_DATABASE_URL": db_url,
                "ATELIER_BROKER_URL": broker_url,
                "ATELIER_BROKER_KEY_PREFIX": prefix,
            },
        )
        try:
            yield stack
        finally:
            stack.stop()


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


@pytest.fixture(scope="session")
def builtin_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny stand-in for the shipped model: 1 step at 32 px with the random encoder, its
    metadata carrying a name and an `evaluation` as the shipped file's does."""
    pytest.importorskip("torch")
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from models.train import TrainConfig, train

    root = tmp_path_factory.mktemp("builtin")
    for folder, color in (("c", (200, 10, 10)), ("s", (0, 0, 250))):
        (root / folder).mkdir()
        for i in range(2):
            Image.new("RGB", (40, 40), tuple(max(0, v - 60 * i) for v in color)).save(
                root / folder / f"{i}.png"
            )
    config = TrainConfig(steps=1, image_size=32, batch_size=2, encoder="random", device="cpu")
    train(config, root / "c", root / "s", root / "trained.safetensors")
    with safe_open(str(root / "trained.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["atelier"])
    meta["name"] = "atelier-default"
    meta["evaluation"] = {"content": 1.5, "style": 2.5, "ssim": 0.4}
    meta["train_config"]["w_color"] = 0.25
    meta["train_config"]["style_conditioned_d"] = False
    path = root / "atelier-default.safetensors"
    tensors = load_file(root / "trained.safetensors")
    save_file(tensors, path, metadata={"atelier": json.dumps(meta)})
    # Its graphs exported into the session's graph folder now, as the first worker to run it
    # would: that export takes over a minute on a loaded 2-core CPU, longer than a test waits
    # for a job, and which test's worker came first would decide which test failed.
    from models.backends import GraphDirectory
    from models.inference import GANStylizer

    cache = GraphDirectory(Path(os.environ["ATELIER_GRAPH_CACHE"]))
    GANStylizer.from_file(path, device="cpu", backend="onnxruntime", graph_cache=cache)
    return path


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
