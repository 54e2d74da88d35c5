"""schemathesis over the served API's OpenAPI schema, with a user key and an admin key: no 5xx,
every status a route answers documented for that route, every body (errors included) in its
documented shape. REST clients generate code from that schema."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"


def test_generated_requests_get_documented_answers_and_no_5xx(stack_with, tmp_path) -> None:  # noqa: ANN001
    cli = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(cli).exists():
        pytest.skip("schemathesis is not installed (dev extra)")
    with stack_with() as stack:
        for key in (stack.user_key, stack.admin_key):
            argv = [cli, "run", f"{stack.url}/openapi.json", "--header"]
            argv += [f"Authorization: Bearer {key}", "--checks", CHECKS]
            argv += ["--max-examples", "10", "--seed", "1", "--phases", "examples,coverage,fuzzing"]
            # In a scratch folder: the CLI keeps a `.schemathesis/` cache where it runs.
            run = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
            assert run.returncode == 0, run.stdout[-6000:]
            assert "generated" in run.stdout


def test_405_lists_every_method_of_the_path(api) -> None:  # noqa: ANN001
    """GET and POST /v1/styles are two routes: a 405 names both (Starlette named the first)."""
    for path, allowed in (
        ("/v1/styles", "GET, HEAD, POST"),
        ("/v1/style-sets/abc/images/1", "DELETE, GET, HEAD"),
        ("/v1/admin/keys", "GET, HEAD, POST"),
    ):
        answer = api.client.put(path, headers=api.headers())
        assert answer.status_code == 405
        assert answer.headers["Allow"] == allowed, path
        assert answer.json()["error"]["code"] == "method_not_allowed"
