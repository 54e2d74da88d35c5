"""Retention on a served stack with a real worker: finished jobs' files expire after the retention
period (a periodic pass of the API process), a user deletes one job's files, an admin a key's
data; a content-addressed file still needed by a live job or a saved style is never deleted."""

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from app.db import make_engine, make_sessionmaker, utcnow
from app.storage import LocalStorage
from app.tables import Job


def _job_row(stack: Any, job_id: str) -> Job:
    engine = make_engine(stack.settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            job = session.get(Job, job_id)
            assert job is not None
            return job
    finally:
        engine.dispose()


def _age(stack: Any, job_id: str, days: int) -> None:
    engine = make_engine(stack.settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            finished = utcnow() - timedelta(days=days)
            session.execute(update(Job).where(Job.id == job_id).values(finished_at=finished))
            session.commit()
    finally:
        engine.dispose()


def test_expired_results_answer_410_and_shared_files_stay(stack_with, make_png) -> None:  # noqa: ANN001
    with stack_with(ATELIER_RETENTION_INTERVAL_S="0.2") as stack, stack.client() as client:
        stack.start_worker()
        storage = LocalStorage(stack.settings.storage_path)
        photo = ("photo.png", make_png((40, 32), color=(10, 120, 200)))
        saved = client.post(
            "/v1/styles", files={"image": ("s.png", make_png(color=(250, 200, 0)))}
        ).json()
        old = client.post(
            "/v1/stylizations",
            files={"content": photo, "style": ("o.png", make_png(color=(0, 90, 20)))},
            data={"method": "optimisation"},
        ).json()
        live = client.post(
            "/v1/stylizations",
            files={"content": photo},
            data={"method": "optimisation", "style_id": saved["id"]},
        ).json()
        for job in (old, live):
            done = stack.wait_job(client, job["id"], lambda j: j["status"] == "succeeded")
            assert done["result_url"]
        old_row, live_row = _job_row(stack, old["id"]), _job_row(stack, live["id"])
        assert old_row.content_sha256 == live_row.content_sha256  # one file, two jobs

        # Finished 31 days ago (the default retention is 30): the API's next pass expires it.
        _age(stack, old["id"], days=31)
        expired = stack.wait_job(client, old["id"], lambda j: j["status"] == "expired")
        assert expired["result_url"] is None
        gone = client.get(f"/v1/jobs/{old['id']}/result")
        assert gone.status_code == 410
        assert gone.json()["error"]["code"] == "result_expired"
        assert not storage.exists(old_row.result_sha256 or "")
        assert not storage.exists(old_row.style_sha256 or "")  # its uploaded style: only its own
        assert storage.exists(old_row.content_sha256 or "")  # the live job still needs it
        assert client.get(f"/v1/jobs/{live['id']}/result").status_code == 200
        assert stack.wait_job(client, live["id"], lambda j: j["status"] == "succeeded")

        # The user deletes the other job's files now: the photo goes, the saved style stays.
        deleted = client.delete(f"/v1/jobs/{live['id']}/files")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["status"] == "expired"
        assert not storage.exists(live_row.content_sha256 or "")
        assert not storage.exists(live_row.result_sha256 or "")
        assert storage.exists(live_row.style_sha256 or "")
        assert client.get(f"/v1/styles/{saved['id']}/image").status_code == 200


def test_deleting_an_unfinished_jobs_files_is_409(api, make_png) -> None:  # noqa: ANN001
    job = api.submit(content=("c.png", make_png()), style=("s.png", make_png())).json()  # type: ignore[attr-defined]
    before = api.state()

    answer = api.client.delete(f"/v1/jobs/{job['id']}/files", headers=api.headers())

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "job_not_finished"
    assert api.state() == before
    other = api.client.delete(f"/v1/jobs/{job['id']}/files", headers=api.headers(api.other_key))
    assert other.status_code == 404


def test_an_admin_deletes_everything_a_key_owns(api, make_png) -> None:  # noqa: ANN001
    user, admin = api.headers(), api.headers(api.admin_key)
    style = api.client.post(
        "/v1/styles", headers=user, files={"image": ("s.png", make_png(color=(1, 2, 3)))}
    ).json()
    kept = api.client.post(
        "/v1/styles", headers=api.headers(api.other_key), files={"image": ("t.png", make_png())}
    ).json()
    me = api.client.get("/v1/me", headers=user).json()
    assert api.client.delete(f"/v1/admin/keys/{me['id']}/data", headers=user).status_code == 403
    assert api.client.delete("/v1/admin/keys/999/data", headers=admin).status_code == 404

    answer = api.client.delete(f"/v1/admin/keys/{me['id']}/data", headers=admin)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"jobs_expired": 0, "files_deleted": 1}
    assert api.client.get(f"/v1/styles/{style['id']}", headers=user).status_code == 404
    other = api.headers(api.other_key)
    assert api.client.get(f"/v1/styles/{kept['id']}/image", headers=other).status_code == 200
