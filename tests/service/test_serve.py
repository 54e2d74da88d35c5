"""`atelier serve`: the whole embedded stack from one command, and a clean stop on SIGTERM."""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _wait_for(value, deadline: float, what: str):
    """`value()` once it is truthy; an AssertionError naming `what` past the deadline."""
    while not (result := value()):
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.2)
    return result


def _printed_key(log: str) -> str | None:
    lines = log.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("admin API key"):
            return lines[i + 1].strip()
    return None


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(out, format="PNG")
    return out.getvalue()


def test_serve_runs_the_embedded_stack_and_stops_cleanly(tmp_path, e2e_env, free_port_fixture):
    port = free_port_fixture()
    env = {**e2e_env, "ATELIER_DATA_DIR": str(tmp_path / "data")}
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        url = f"http://127.0.0.1:{port}"
        log_text = (tmp_path / "serve.log").read_text
        deadline = time.monotonic() + 60
        key = _wait_for(lambda: _printed_key(log_text()), deadline, "serve printed no key")
        assert key.startswith("atl_"), log_text()
        assert f"Atelier is running at {url}" in log_text()

        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as c:
            _wait_for(lambda: _answers(c), deadline, "the API never answered /healthz")
            job = c.post(
                "/v1/stylizations",
                files={
                    "content": ("c.png", _png((250, 200, 0))),
                    "style": ("s.png", _png((0, 0, 99))),
                },
                data={"method": "optimisation"},
                headers={"Prefer": "wait=60"},
            )
            assert job.status_code == 200 and job.json()["status"] == "succeeded", job.text
            assert c.get(job.json()["result_url"]).headers["content-type"] == "image/png"

        children = _children(proc.pid)
        assert children, "serve should run a worker subprocess"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        gone = time.monotonic() + 10
        _wait_for(lambda: not any(map(_alive, children)), gone, "a worker outlived serve")
        assert "stopped" in (tmp_path / "serve.log").read_text()
        # The page's URL carries the key in its fragment, so one click signs the admin in.
        assert f"{url}/#key={key}" in (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in _children(proc.pid):
            os.kill(child, signal.SIGKILL)
