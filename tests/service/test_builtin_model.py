"""The built-in model: registered by every start path that migrates, active on a fresh database,
never re-activated over an admin's choice, and used by GAN jobs through a real worker."""

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def db_upgrade(env: dict[str, str], builtin: Path | str) -> str:
    """`atelier db upgrade` in a subprocess, as an operator (or `atelier serve`) runs it."""
    result = subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", "db", "upgrade"],
        env={**env, "ATELIER_BUILTIN_MODEL": str(builtin)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def env(tmp_path: Path, e2e_env: dict[str, str]) -> dict[str, str]:
    """The environment of `atelier db upgrade` on the data folder `api_with` opens."""
    return {**e2e_env, "ATELIER_DATA_DIR": str(tmp_path / "data")}


def _models(api) -> list[dict]:
    return api.client.get("/v1/models", headers=api.headers()).json()["data"]


def test_a_fresh_database_gets_the_builtin_model_active_once(env, api_with, builtin_model_file):
    out = db_upgrade(env, builtin_model_file)
    assert "built-in model: registered atelier-default.safetensors" in out and "activated" in out
    with api_with() as api:
        [model] = _models(api)
        assert model["builtin"] is True and model["is_active"] is True
        assert model["name"] == "atelier-default"
        assert model["evaluation"] == {"content": 1.5, "style": 2.5, "ssim": 0.4}
        assert api.client.app.state.storage.get(model["sha256"]) == builtin_model_file.read_bytes()
        before = api.state()
    # A second start changes nothing: no second row, no new file, no activation logged.
    out = db_upgrade(env, builtin_model_file)
    assert f"already registered as {model['id']}" in out and "activated" not in out
    with api_with() as api:
        assert _models(api) == [model]
        after = api.state()
        assert after["files"] == before["files"]
        assert after["rows"]["model_files"] == 1
        assert (
            api.client.get("/v1/models/activations", headers=api.headers(api.admin_key)).json()[
                "data"
            ]
            == []
        )


def test_an_admins_activation_and_rollback_survive_restarts(env, api_with, builtin_model_file):
    db_upgrade(env, builtin_model_file)
    with api_with() as api:
        admin = api.headers(api.admin_key)
        [builtin] = _models(api)
        other = api.client.post(
            "/v1/models",
            headers=admin,
            files={"file": ("other.safetensors", _renamed(builtin_model_file))},
            data={"name": "other"},
        )
        assert other.status_code == 201, other.text
        other_id = other.json()["id"]
        assert api.client.post(f"/v1/models/{other_id}/activate", headers=admin).status_code == 200
    db_upgrade(env, builtin_model_file)
    with api_with() as api:
        active = [m["id"] for m in _models(api) if m["is_active"]]
        assert active == [other_id]


def test_a_rollback_to_no_model_is_not_undone_by_a_restart(env, api_with, builtin_model_file):
    # An installation that ran without the built-in model: an admin chose a model, then
    # rolled back to none. A later start that brings the built-in file registers it only.
    db_upgrade(env, "")
    with api_with() as api:
        admin = api.headers(api.admin_key)
        upload = api.client.post(
            "/v1/models",
            headers=admin,
            files={"file": ("m.safetensors", _renamed(builtin_model_file))},
        )
        assert upload.status_code == 201, upload.text
        api.client.post(f"/v1/models/{upload.json()['id']}/activate", headers=admin)
        assert api.client.post("/v1/models/rollback", headers=admin).status_code == 200
        assert not any(m["is_active"] for m in _models(api))
    out = db_upgrade(env, builtin_model_file)
    assert "registered" in out and "activated" not in out
    with api_with() as api:
        models = _models(api)
        assert [m["builtin"] for m in models] == [True, False]
        assert not any(m["is_active"] for m in models)


@pytest.mark.parametrize("case", ["missing", "not a model"])
def test_an_absent_or_bad_builtin_file_is_one_log_line_and_no_harm(case, env, api_with, tmp_path):
    path = tmp_path / "atelier-default.safetensors"
    if case == "not a model":
        path.write_bytes(b"not a safetensors file")
    out = db_upgrade(env, path)
    assert "database is up to date" in out
    assert ("no file at" if case == "missing" else "not a usable model file") in out
    with api_with() as api:
        assert _models(api) == []
        assert api.state()["files"] == []


def _renamed(path: Path) -> bytes:
    """The same weights under another name: another file (sha256) to the registry."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save

    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["atelier"])
    meta["name"] = "uploaded"
    return save(load_file(path), metadata={"atelier": json.dumps(meta)})


def _png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 32), color).save(out, format="PNG")
    return out.getvalue()


def test_jobs_name_the_builtin_model_or_the_optimisation_method(running_stack, builtin_model_file):
    """Through a real API, worker and database (both stacks): a job with no model runs the
    built-in GAN and records its id and sha256; `method=optimisation` is recorded and used."""
    stack = running_stack
    db_upgrade(stack.env, builtin_model_file)
    files = {"content": ("c.png", _png((200, 120, 40))), "style": ("s.png", _png((20, 40, 220)))}
    with stack.client() as client:
        [builtin] = client.get("/v1/models").json()["data"]
        assert builtin["builtin"] is True and builtin["is_active"] is True
        gan = client.post("/v1/stylizations", files=files)
        optimisation = client.post("/v1/stylizations", files=files, data={"method": "optimisation"})
        assert gan.status_code == optimisation.status_code == 202, gan.text + optimisation.text
        assert gan.json()["parameters"]["method"] == "gan"
        assert optimisation.json()["parameters"]["method"] == "optimisation"
        finished = ("succeeded", "failed")
        done = stack.wait_job(client, gan.json()["id"], lambda j: j["status"] in finished)
        assert done["status"] == "succeeded", done
        assert done["result_info"]["method"] == "gan"
        assert done["result_info"]["model_id"] == builtin["id"]
        assert done["result_info"]["model_sha256"] == builtin["sha256"]
        done = stack.wait_job(client, optimisation.json()["id"], lambda j: j["status"] in finished)
        assert done["status"] == "succeeded", done
        assert done["result_info"]["method"] == "optimisation"
        assert done["result_info"]["model_id"] is None


def test_a_worker_warms_the_active_model_and_says_so_before_its_first_task(
    fresh_stack, builtin_model_file
):
    """The warm-up (worker_init, before Celery's logging is up) is logged once logging is up
    and before the worker is ready: the model, the backend, the common photo shapes (none
    with ATELIER_WARM_PHOTO_SHAPES=false)."""
    stack = fresh_stack
    db_upgrade(stack.env, builtin_model_file)
    for n, (env, shapes) in enumerate([({}, 18), ({"ATELIER_WARM_PHOTO_SHAPES": "false"}, 0)]):
        worker = stack.start_worker(**env)
        deadline = time.monotonic() + 120
        while " ready." not in stack.logs(f"worker{n}.log") and time.monotonic() < deadline:
            assert worker.poll() is None, stack.logs(f"worker{n}.log")
            time.sleep(0.2)
        log = stack.logs(f"worker{n}.log")
        warm = log.find("warm-up: model atelier-default (")
        assert 0 <= warm < log.index(" ready."), log
        assert f", with {shapes} common photo shapes" in log[warm : log.index(" ready.")], log


@pytest.mark.parametrize("method", ["GAN", "fast", "", "optimization"])
def test_an_unknown_method_is_a_422_that_stores_nothing(api, method):
    before = api.state()
    response = api.submit(
        content=("c.png", _png((1, 2, 3))), style=("s.png", _png((4, 5, 6))), method=method
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and "method" in error["message"]
    assert api.state() == before


def test_a_gan_job_without_any_model_is_a_409_that_stores_nothing(api):
    before = api.state()
    response = api.submit(
        content=("c.png", _png((1, 2, 3))), style=("s.png", _png((4, 5, 6))), method="gan"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_active_model"
    assert "method=optimisation" in response.json()["error"]["message"]
    assert api.state() == before


def _style_set(api) -> str:
    files = [("images", (f"p{i}.png", _png((40 * i, 90, 200)), "image/png")) for i in range(3)]
    response = api.client.post(
        "/v1/style-sets", headers=api.headers(api.admin_key), files=files, data={"name": "s"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_fine_tune_starts_from_the_active_model_and_inherits_its_losses(
    env, api_with, builtin_model_file
):
    from contracts.training import train_config_kwargs

    db_upgrade(env, builtin_model_file)
    with api_with() as api:
        [builtin] = _models(api)
        style_set = _style_set(api)

        def start(**body: object) -> dict:
            response = api.client.post(
                "/v1/admin/trainings",
                headers=api.headers(api.admin_key),
                json={"style_set_id": style_set, **body},
            )
            assert response.status_code == 202, response.text
            return response.json()

        tuned = start()
        assert tuned["model_id"] == builtin["id"]
        assert tuned["parameters"]["base_model_id"] == builtin["id"]
        # The base's train_config (w_color 0.25 in the tiny file) reaches the trainer's config.
        config = train_config_kwargs(tuned["parameters"])
        assert config["w_color"] == 0.25 and config["style_conditioned_d"] is False
        assert config["content_taps"] == builtin["info"]["train_config"]["content_taps"]
        # A setting the request names is the request's.
        assert train_config_kwargs(start(w_color=0.0)["parameters"])["w_color"] == 0.0

        scratch = start(from_scratch=True)
        assert scratch["model_id"] is None and scratch["parameters"]["base_model_id"] is None
        assert scratch["parameters"]["baseline_model_id"] == builtin["id"]
        assert train_config_kwargs(scratch["parameters"])["w_color"] == 0.0  # the default

        both = api.client.post(
            "/v1/admin/trainings",
            headers=api.headers(api.admin_key),
            json={"style_set_id": style_set, "from_scratch": True, "base_model_id": builtin["id"]},
        )
        assert both.status_code == 422 and both.json()["error"]["code"] == "invalid_parameter"
