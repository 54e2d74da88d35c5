"""Deployment files: the compose file parses (when a compose tool is installed), and the API
image is built without the GAN extra (no torch)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _compose() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.parametrize("profile", ["gpu", "cpu"])
def test_compose_file_parses(profile):
    compose = _compose()
    if compose is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*compose, "--profile", profile, "config"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    services = result.stdout
    for name in ("api:", "redis:", "postgres:", "migrate:"):
        assert name in services
    suffix = "" if profile == "gpu" else "-cpu"
    assert f"worker-inference{suffix}:" in services and f"worker-training{suffix}:" in services
    if profile == "gpu":
        assert "driver: nvidia" in services


def test_api_image_installs_no_torch():
    dockerfile = (REPO / "Dockerfile").read_text()
    api_stage = re.search(r"FROM base AS api\n(.*?)(?:\nFROM |\Z)", dockerfile, re.S)
    assert api_stage is not None
    assert "pip install '.[service]'" in api_stage.group(1)
    assert "gan" not in api_stage.group(1)
