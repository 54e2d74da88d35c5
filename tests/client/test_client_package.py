"""The client is a package of its own: it depends on httpx alone and importing it loads none of
the service's code, torch or pydantic (so it installs and runs where none of them is)."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
SERVICE_SIDE = {"app", "worker", "models", "cli", "contracts", "torch", "pydantic", "fastapi"}


def test_the_client_depends_on_httpx_only():
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0] for d in project["dependencies"]] == ["httpx"]
    assert "optional-dependencies" not in project
    assert (CLIENT / "src" / "atelier_client" / "py.typed").exists()


def test_importing_the_client_loads_no_service_code():
    code = (
        "import json, sys, atelier_client; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout
    )
    assert "atelier_client" in loaded and "httpx" in loaded
    assert SERVICE_SIDE.isdisjoint(loaded), SERVICE_SIDE & set(loaded)
