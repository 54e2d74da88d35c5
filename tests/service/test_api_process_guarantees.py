"""The API as a process: what it imports, what it refuses to start on (an unmigrated database,
for the service and the `atelier keys` command), the key that command prints, and its health,
readiness and OpenAPI endpoints."""

import subprocess
import sys

import pytest

from app.config import Settings
from app.db import NotMigratedError
from app.main import create_app


def test_api_process_never_imports_torch_models_worker_or_a_backend():
    code = (
        "import sys, app.main\n"
        "from app.config import Settings\n"
        "app.main.create_app(Settings(data_dir='/tmp/atelier-import-check'))\n"
        "heavy = ('torch', 'models', 'worker', 'onnxruntime', 'openvino', 'onnx', 'av', 'cv2')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_refuses_an_unmigrated_database(tmp_path):
    from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=tmp_path, run_reaper=False))
    with pytest.raises(NotMigratedError, match="atelier db upgrade"), TestClient(app):
        pass


def _keys_create(name: str, data_dir: object) -> subprocess.CompletedProcess[str]:
    """`atelier keys create --name NAME` in a fresh process on the data folder."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli.main import main; main()",
            "keys",
            "create",
            "--name",
            name,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "ATELIER_DATA_DIR": str(data_dir)},
    )


def test_keys_command_on_unmigrated_database_names_the_fix(tmp_path):
    result = _keys_create("x", tmp_path)
    assert result.returncode == 2
    assert "atelier db upgrade" in result.stderr


def test_keys_command_prints_the_key_alone_on_the_last_line(api):
    result = _keys_create("ci", api.settings.data_dir)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert api.client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_readyz_reports_an_unreachable_broker(api_with):
    with api_with(broker_url="redis://127.0.0.1:1/0") as api:
        response = api.client.get("/readyz")
    assert response.status_code == 503
    body = response.json()["error"]
    assert body["code"] == "not_ready" and body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error")


def test_healthz_and_openapi(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    spec = api.client.get("/openapi.json").json()
    body = spec["paths"]["/v1/stylizations"]["post"]["requestBody"]["content"]
    assert "content" in body["multipart/form-data"]["schema"]["properties"]
