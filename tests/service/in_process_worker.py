"""What the in-process worker tests (test_worker.py, test_worker_training.py) share: the worker's
runtime on the `api` fixture's job store and storage (the `runtime` fixture, imported by
conftest.py for pytest to find), a small solid PNG and a job as its owner sees it. (Imported by
name: pytest puts this folder on sys.path for the test modules in it.)"""

import io

import pytest
from PIL import Image

from app.storage import LocalStorage


@pytest.fixture
def runtime(api):
    from worker.runtime import Runtime

    state = api.client.app.state
    return Runtime(
        settings=api.settings,
        sessions=state.sessionmaker,
        storage=LocalStorage(api.settings.storage_path),
        name="test-worker:1",
    )


def solid_png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 16), color).save(out, format="PNG")
    return out.getvalue()


def job_view(api, job_id):
    return api.client.get(f"/v1/jobs/{job_id}", headers=api.headers()).json()
