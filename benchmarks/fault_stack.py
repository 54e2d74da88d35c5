"""The processes a fault run (benchmarks/faults.py) starts, breaks and restarts: a private broker
(its own `redis-server` without persistence, or its own RabbitMQ node, on free ports), the API
and its workers as subprocesses, and a wait for each to come up."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from submit_burst import free_port

REPO = Path(__file__).resolve().parent.parent


class Broker:
    """A private broker process that can be restarted (losing its data)."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind, self.root = kind, root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.node = f"faults{self.port}@localhost"

    @property
    def url(self) -> str:
        if self.kind == "redis":
            return f"redis://127.0.0.1:{self.port}/0"
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        log = open(self.root / f"{self.kind}.log", "ab")  # noqa: SIM115
        if self.kind == "redis":
            argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            argv += ["--save", "", "--appendonly", "no"]
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        else:
            base = self.root / "rabbitmq"
            for folder in ("mnesia", "log"):
                (base / folder).mkdir(parents=True, exist_ok=True)
            (base / "plugins").write_text("[].\n")
            # Its own listener (the system config names the shared server's port).
            (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
            if os.geteuid() == 0 and shutil.which("rabbitmq-server"):
                # The server script drops root for the `rabbitmq` user, who must write here.
                self.root.chmod(0o755)
                subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(base)], check=False)
            env = {
                **os.environ,
                "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(free_port()),
                "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
                "RABBITMQ_LOG_BASE": str(base / "log"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
                "RABBITMQ_PID_FILE": str(base / "pid"),
            }
            self.proc = subprocess.Popen(["rabbitmq-server"], env=env, stdout=log, stderr=log)
        wait_for(self.answers, 60, f"{self.kind} on port {self.port}")

    def answers(self) -> bool:
        from kombu import Connection

        try:
            with Connection(self.url, connect_timeout=1) as conn:
                conn.ensure_connection(max_retries=1)
            return True
        except Exception:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.kind == "rabbitmq":
            subprocess.run(["rabbitmqctl", "-n", self.node, "stop"], capture_output=True)
        else:
            self.proc.kill()  # no persistence: every queued message is gone
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up in {timeout:g} s")
        time.sleep(0.1)


class Service:
    """The API and the workers on one stack, as subprocesses."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.root / log, "ab")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, *argv], cwd=REPO, env=self.env, stdout=out, stderr=out
        )

    def start_api(self) -> None:
        argv = ["-m", "uvicorn", "app.main:app", "--port", str(self.port), "--log-level", "error"]
        self.api = self._spawn(argv, "api.log")
        wait_for(self.healthy, 60, "the API")

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.terminate()
            self.api.wait(30)

    def start_worker(self) -> None:
        argv = ["-c", "from cli.main import main; main()", "worker", "--loglevel", "WARNING"]
        self.workers.append(self._spawn(argv, f"worker{len(self.workers)}.log"))

    def kill_worker(self) -> None:
        alive = [w for w in self.workers if w.poll() is None]
        os.kill(alive[0].pid, signal.SIGKILL)
        alive[0].wait()

    def stop(self) -> None:
        for proc in [*self.workers, self.api]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.api]:
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
