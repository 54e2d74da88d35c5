"""Deployment files: the compose file parses (when a compose tool is installed), and the API
image is built without the GAN extra (no torch)."""

import re
import shlex
import shutil
import subprocess
import tomllib
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


def _api_stage_installs() -> list[str]:
    """The arguments of every `pip install` in the Dockerfile's api stage."""
    dockerfile = (REPO / "Dockerfile").read_text()
    api_stage = re.search(r"^FROM base AS api\n(.*?)(?=^FROM |\Z)", dockerfile, re.S | re.M)
    assert api_stage is not None, "the Dockerfile has no `FROM base AS api` stage"
    runs = re.findall(r"^RUN (.*(?:\\\n.*)*)", api_stage.group(1), re.M)
    return [arg for run in runs for arg in shlex.split(run.replace("\\\n", " "))]


def test_api_image_installs_the_service_extra_and_nothing_of_the_gan():
    """The api stage installs this project with the `service` extra only, and neither that
    extra nor the base dependencies pull in a package of the `gan` extra (torch...)."""
    args = _api_stage_installs()
    assert args[:2] == ["pip", "install"], args
    targets = [a for a in args[2:] if not a.startswith("-")]
    assert targets == [".[service]"], targets  # no torch or other package named beside it

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}

    installed = names(project["dependencies"]) | names(project["optional-dependencies"]["service"])
    gan_only = names(project["optional-dependencies"]["gan"])
    assert "torch" in gan_only
    assert not installed & gan_only, installed & gan_only
