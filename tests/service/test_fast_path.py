"""The fast path, through a real API, worker, database and broker on both stacks: where a job's
time goes (the worker's `result_info.timings`, the API's `Server-Timing`), `Prefer: wait` woken
by the worker's notification, and the result's bytes in the answer with `Accept: image/*`."""

import io
import time

import httpx
import pytest
from PIL import Image

from app import crud
from app.db import make_engine, make_sessionmaker
from app.storage import LocalStorage
from contracts.timings import API_STAGES, WORKER_STAGES

pytestmark = [pytest.mark.e2e, pytest.mark.every_broker]


def _photo(size: int, seed: int) -> bytes:
    image = Image.new("RGB", (size, size))
    image.putdata(
        [
            ((x * 7 + seed * 50) % 256, (y * 3) % 256, (x * y + seed) % 256)
            for y in range(size)
            for x in range(size)
        ]
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def gan_stack(running_stack, builtin_model_file):
    """The module's stack with the (tiny) built-in model registered and active."""
    settings = running_stack.settings
    engine = make_engine(settings.sqlalchemy_url)
    with make_sessionmaker(engine)() as session:
        crud.register_builtin_model(
            session, storage=LocalStorage(settings.storage_path), path=builtin_model_file
        )
    engine.dispose()
    return running_stack


def _server_timing(header: str) -> dict[str, float]:
    stages = {}
    for part in header.split(","):
        name, _, duration = part.strip().partition(";dur=")
        stages[name] = float(duration) / 1000
    return stages


def _submit(client, size: int = 192, **headers: str):
    return client.post(
        "/v1/stylizations",
        files={"content": ("c.png", _photo(size, 1)), "style": ("s.png", _photo(64, 2))},
        headers={"Prefer": "wait=30", **headers},
    )


def test_a_jobs_stages_add_up_to_its_wall_time(gan_stack) -> None:
    with gan_stack.client() as client:
        # The worker's first job loads the model: on a new model file that is its graphs'
        # export and the backends' measurement (seconds; more on a loaded CI machine).
        client.timeout = httpx.Timeout(180)
        _submit(client, **{"Prefer": "wait=170"})
        client.timeout = httpx.Timeout(30)
        # Big enough that the 10% is not one scheduler tick (the test model is tiny).
        start = time.perf_counter()
        response = _submit(client, size=512)
        client_seconds = time.perf_counter() - start
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded" and job["result_info"]["method"] == "gan", job
    timings = job["result_info"]["timings"]
    assert set(WORKER_STAGES) <= set(timings), timings
    assert all(seconds >= 0 for seconds in timings.values()), timings
    wall = timings["wall"]
    stages = sum(timings[name] for name in WORKER_STAGES)
    # Every stage is timed: nothing between them is lost, nothing is counted twice.
    assert abs(stages - wall) <= 0.1 * wall, (stages, timings)
    assert timings["model"] > 0 and timings["encode"] > 0 and timings["db_updates"] > 0

    api = _server_timing(response.headers["server-timing"])
    assert set(api) == set(API_STAGES) - {"serve_result"}, api
    # The worker's run lies inside the API's enqueue + wait, which lie inside the client's wait.
    assert wall <= api["enqueue"] + api["wait"] + 0.01, (timings, api)
    assert sum(api.values()) <= client_seconds, (api, client_seconds)


def test_the_stage_histograms_are_served(gan_stack) -> None:
    with gan_stack.client() as client:
        job = _submit(client).json()
        result = client.get(job["result_url"])
        assert result.status_code == 200
        assert "serve_result" in _server_timing(result.headers["server-timing"])
        admin = {"Authorization": f"Bearer {gan_stack.admin_key}"}
        metrics = client.get("/metrics", headers=admin).text
    for stage in (*WORKER_STAGES, "wall"):
        assert f'atelier_job_stage_seconds_count{{stage="{stage}"}}' in metrics, stage
    for stage in ("read_body", "validate", "insert", "enqueue", "wait", "serve_result"):
        assert f'atelier_api_stage_seconds_count{{stage="{stage}"}}' in metrics, stage


def test_prefer_wait_is_woken_by_the_workers_notification(gan_stack) -> None:
    """Off the embedded stack the tests' fallback poll is 60 s (E2E_ENV), so an answer well
    before it comes from the notification: Redis pub/sub with a Redis broker, PostgreSQL's
    LISTEN / NOTIFY with RabbitMQ; the embedded stack polls every 25 ms."""
    with gan_stack.client() as client:
        response = _submit(client, Prefer="wait=50")
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    assert _server_timing(response.headers["server-timing"])["wait"] < 20


def test_accept_image_answers_the_result_itself(gan_stack) -> None:
    with gan_stack.client() as client:
        response = _submit(client, Accept="image/*")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(response.content)).size == (192, 192)
        job = client.get(response.headers["location"]).json()
        assert job["status"] == "succeeded" and response.headers["x-job-id"] == job["id"]
        assert client.get(job["result_url"]).content == response.content
        assert "serve_result" in _server_timing(response.headers["server-timing"])
        # JSON stays the default, `*/*` included.
        plain = _submit(client, Accept="*/*")
        assert plain.headers["content-type"] == "application/json"
        assert plain.json()["status"] == "succeeded"
