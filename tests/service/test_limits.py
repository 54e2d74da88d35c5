"""Per-key limits: a rate, unfinished jobs at once, a daily quota; defaults in settings, a key's
own limits set by an admin (API and CLI). Over a limit: 429 with Retry-After and a code, and
nothing is stored."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from app.db import make_engine, make_sessionmaker
from app.tables import ApiKey, RateCounter


def _submit(client: httpx.Client | object, headers: dict[str, str], png: bytes) -> httpx.Response:
    return client.post(  # type: ignore[attr-defined, no-any-return]
        "/v1/stylizations",
        headers=headers,
        files={"content": ("c.png", png), "style": ("s.png", png)},
        data={"method": "optimisation"},
    )


def _new_key(api, **limits: object) -> str:  # noqa: ANN001
    answer = api.client.post(
        "/v1/admin/keys", headers=api.headers(api.admin_key), json={"name": "limited", **limits}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def test_the_sixth_submission_of_a_key_limited_to_5_a_minute_is_429(stack_with, make_png) -> None:  # noqa: ANN001
    """On a served API: the key's rate comes from the setting; counters in Redis on the Redis
    stack, in the job store on the embedded one."""
    with stack_with(ATELIER_RATE_LIMIT="5/minute") as stack, stack.client() as client:
        answers = [_submit(client, {}, make_png(color=(i, 9, 9))) for i in range(6)]

        assert [a.status_code for a in answers] == [202] * 5 + [429]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert len(client.get("/v1/jobs").json()["data"]) == 5
        if stack.name == "embedded":
            engine = make_engine(stack.settings.sqlalchemy_url)
            with make_sessionmaker(engine)() as session:
                counters = list(session.scalars(select(RateCounter)))
            engine.dispose()
            assert [c.count for c in counters] == [6]
        else:
            import redis

            server = redis.Redis.from_url(stack.settings.celery_broker_url)
            prefix = stack.settings.broker_key_prefix
            assert server.keys(f"{prefix}atelier-limits*"), "no rate counter in Redis"


def test_a_key_at_its_active_job_limit_gets_too_many_active_jobs(api, make_png) -> None:  # noqa: ANN001
    key = _new_key(api, max_active_jobs=2)
    headers = api.headers(key)
    assert [
        _submit(api.client, headers, make_png(color=(i, 1, 1))).status_code for i in range(2)
    ] == [202, 202]
    before = api.state()

    refused = _submit(api.client, headers, make_png(color=(77, 1, 1)))

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_active_jobs"
    assert refused.headers["Retry-After"].isdigit()
    assert api.state() == before  # no job row, no stored image
    # Other keys are not held back by this one's jobs.
    assert _submit(api.client, api.headers(), make_png()).status_code == 202


def test_a_key_past_its_daily_quota_gets_quota_exceeded_until_midnight(api, make_png) -> None:  # noqa: ANN001
    key = _new_key(api, daily_job_quota=1)
    assert _submit(api.client, api.headers(key), make_png()).status_code == 202
    before = api.state()

    refused = _submit(api.client, api.headers(key), make_png(color=(1, 2, 3)))

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 86400
    assert api.state() == before


def test_an_admin_sets_a_keys_limits_and_resets_them_to_the_defaults(api) -> None:  # noqa: ANN001
    admin = api.headers(api.admin_key)
    created = api.client.post(
        "/v1/admin/keys", headers=admin, json={"name": "k", "rate_limit": "60/minute"}
    ).json()
    assert created["own_limits"]["rate_limit"] == "60/minute"
    assert created["limits"]["max_active_jobs"] == api.settings.max_active_jobs

    patched = api.client.patch(
        f"/v1/admin/keys/{created['id']}",
        headers=admin,
        json={"rate_limit": None, "daily_job_quota": 7},
    ).json()
    assert patched["own_limits"] == {
        "rate_limit": None,
        "max_active_jobs": None,
        "daily_job_quota": 7,
    }
    assert patched["limits"]["rate_limit"] == api.settings.rate_limit
    listed = api.client.get("/v1/admin/keys", headers=admin).json()["data"]
    assert {k["name"] for k in listed} >= {"user", "admin", "k"}
    assert all("key" not in k for k in listed)


def test_limit_routes_refuse_bad_values_and_non_admins(api) -> None:  # noqa: ANN001
    admin = api.headers(api.admin_key)
    bad = api.client.post("/v1/admin/keys", headers=admin, json={"name": "k", "rate_limit": "lots"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_parameter"
    negative = api.client.patch("/v1/admin/keys/1", headers=admin, json={"max_active_jobs": -1})
    assert negative.status_code == 422
    assert api.client.patch("/v1/admin/keys/999", headers=admin, json={}).status_code == 404
    user = api.client.get("/v1/admin/keys", headers=api.headers())
    assert user.status_code == 403


def test_keys_create_takes_limits_on_the_command_line(api, monkeypatch) -> None:  # noqa: ANN001
    from app.config import get_settings
    from cli.main import app

    monkeypatch.setenv("ATELIER_DATA_DIR", str(api.settings.data_dir))
    monkeypatch.setenv("ATELIER_BUILTIN_MODEL", "")
    get_settings.cache_clear()  # the CLI reads the environment through the cached settings
    try:
        argv = ["keys", "create", "--name", "cli", "--rate", "60/minute", "--max-active", "10"]
        result = CliRunner().invoke(app, [*argv, "--daily", "1000"])
        bad = CliRunner().invoke(app, ["keys", "create", "--name", "x", "--rate", "lots"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    engine = make_engine(api.settings.sqlalchemy_url)
    with make_sessionmaker(engine)() as session:
        rows = {row.name: row for row in session.scalars(select(ApiKey))}
    engine.dispose()
    cli = rows["cli"]
    assert (cli.rate_limit, cli.max_active_jobs, cli.daily_job_quota) == ("60/minute", 10, 1000)
    assert bad.exit_code == 2
    assert "rate" in bad.output
    assert "x" not in rows


def test_a_rate_limiter_whose_redis_is_down_lets_submissions_through(api_with, make_png) -> None:  # noqa: ANN001
    """The counters live in Redis with a Redis broker; Redis down is no reason to refuse (the
    job stays queued, and the reaper sends it once the broker is back)."""
    with api_with(broker_url="redis://127.0.0.1:9/0", rate_limit="1/minute") as api:
        answers = [_submit(api.client, api.headers(), make_png(color=(i, 0, 0))) for i in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[1].json()["status"] == "queued"


def test_a_burst_of_one_keys_submissions_never_passes_its_active_job_limit(
    stack_with, make_png
) -> None:  # noqa: ANN001
    """20 submissions of one key at the same moment on a served API (no worker: every accepted
    job stays unfinished), the key limited to 3 unfinished jobs: exactly 3 accepted, the rest
    429 `too_many_active_jobs`, 3 job rows. The count is taken again under the key's lock in
    the transaction that inserts the job, so the burst cannot all pass one early count."""
    with stack_with(ATELIER_MAX_ACTIVE_JOBS="3") as stack:
        start = threading.Barrier(20)

        def submit(i: int) -> httpx.Response:
            with stack.client() as client:
                start.wait(30)
                return _submit(client, {}, make_png(color=(i, 40, 9)))

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(submit, range(20)))

        statuses = sorted(a.status_code for a in answers)
        assert statuses == [202] * 3 + [429] * 17, [a.text for a in answers if a.status_code >= 500]
        refused = [a.json()["error"]["code"] for a in answers if a.status_code == 429]
        assert set(refused) == {"too_many_active_jobs"}
        with stack.client() as client:
            assert len(client.get("/v1/jobs").json()["data"]) == 3
