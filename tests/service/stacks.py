"""End-to-end stacks: a deployment under test run as real processes (uvicorn and Celery worker
subprocesses) on the embedded stack, on Redis + PostgreSQL or on RabbitMQ + PostgreSQL, each
backing service skipped, saying why, when it does not answer.

Self-contained (it imports no sibling helper): tests/client and tests/browser load it by path,
their tests served by the same stacks as the service tests'.
"""

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import make_url

from app import crud
from app.config import Settings
from app.db import make_engine, make_sessionmaker, upgrade

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
