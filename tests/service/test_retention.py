"""Retention on a served stack with a real worker: finished jobs' files expire after the retention
period (a periodic pass of the API process), a user deletes one job's files, an admin a key's
data; a content-addressed file still needed by a live job or a saved style is never deleted."""

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from app import crud, retention
from app.db import make_engine, make_sessionmaker, utcnow
from app.images import validate_image
from app.storage import LocalStorage
from app.tables import ApiKey, Job, JobKind, JobStatus


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


def _wait_gone(storage: LocalStorage, key: str) -> None:
    deadline = time.monotonic() + 10
    while storage.exists(key):
        assert time.monotonic() < deadline, f"file {key} still there"
        time.sleep(0.02)


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
        # The pass deletes the files just after it marks the job, one at a time in no set order
        # (each under its lock): the result and its uploaded style (only its own) both go.
        _wait_gone(storage, old_row.result_sha256 or "")
        _wait_gone(storage, old_row.style_sha256 or "")
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


class _PausingStorage:
    """A folder whose `put` stops after writing, until the test lets it go on: a request caught
    between storing its upload and committing the job row that names it."""

    def __init__(self, inner: LocalStorage) -> None:
        self.inner, self.stored, self.go = inner, threading.Event(), threading.Event()

    def put(self, data: bytes) -> str:
        key = self.inner.put(data)
        self.stored.set()
        assert self.go.wait(30)
        return key

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_file_deleted_while_a_new_job_uploads_the_same_bytes_is_kept(
    job_store: str, tmp_path: Path, make_png: Any
) -> None:
    """Retention judges a file unused and deletes it while a new job is uploading the very same
    bytes (stored, its row not yet committed): the new job's file must still be there. On each
    kind of job store, with real concurrent transactions."""
    engine = make_engine(job_store)
    factory = make_sessionmaker(engine)
    storage = LocalStorage(tmp_path / "storage")
    photo = validate_image(
        make_png((40, 32), color=(10, 120, 200)),
        field="content",
        max_pixels=10**6,
        max_upload_side=4096,
    )

    def submit(session: Session, owner: ApiKey, store: Any) -> Job:
        return crud.create_stylization(
            session,
            storage=store,
            owner=owner,
            parameters={"method": "optimisation"},
            content=photo,
            style_image=photo,
            style_sha256=None,
            style_id=None,
            model_id=None,
            idempotency_key=None,
            webhook_url=None,
        )

    with factory() as session:
        owner, _ = crud.create_api_key(session, name="race", is_admin=False)
        old = submit(session, owner, storage)
        session.execute(update(Job).where(Job.id == old.id).values(status=JobStatus.expired))
        session.commit()
    key = old.content_sha256
    assert storage.exists(key)

    # A new job with the same photo stops between its put and its commit.
    pausing = _PausingStorage(storage)
    uploaded: list[Job] = []

    def upload() -> None:
        with factory() as session:
            uploaded.append(submit(session, session.merge(owner), pausing))

    # Retention, meanwhile; its statements are watched, so the test knows when it is waiting.
    deleted: list[int] = []
    statements: list[str] = []
    retention_engine = make_engine(job_store)
    event.listen(retention_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def sweep() -> None:
        with make_sessionmaker(retention_engine)() as session:
            deleted.append(retention.delete_unused(session, storage, {key}))

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert pausing.stored.wait(30)
    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    # Until the sweep has ended (the file judged unused and deleted: the race lost) or has asked
    # for the file's lock (it then waits for the upload to commit).
    deadline = time.monotonic() + 30
    while sweeper.is_alive() and not any(lock in s for s in statements for lock in LOCKS):
        assert time.monotonic() < deadline, "the sweep neither ended nor asked for a lock"
        time.sleep(0.01)
    pausing.go.set()
    uploader.join(30)
    sweeper.join(30)

    assert uploaded and uploaded[0].content_sha256 == key
    assert deleted == [0]
    assert storage.exists(key), "the new job's upload was deleted under it"
    assert storage.get(key) == photo.data
    engine.dispose()
    retention_engine.dispose()


# How each job store's lock shows in the SQL (`crud.lock_files`).
LOCKS = ("pg_advisory_xact_lock(", "UPDATE images SET sha256=images.sha256 WHERE 0 = 1")


def test_a_region_s_mask_goes_with_its_job_unless_a_live_job_names_it(api, make_png) -> None:  # noqa: ANN001
    """Styled regions keep their masks in a JSON list: deleting a finished job's files deletes
    its regions' masks too, and keeps one that another live job's regions still name."""
    storage = api.client.app.state.storage
    regions = json.dumps([{"mask": 0, "keep": True}])

    def submit(mask_color: int) -> str:
        mask = ("m.png", make_png((40, 32), mode="L", color=mask_color), "image/png")
        answer = api.submit(
            content=("c.png", make_png((40, 32))),
            style=("s.png", make_png(color=(3, 4, 5))),
            masks=mask,
            regions=regions,
        )
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]

    own, shared_a, shared_b = submit(200), submit(90), submit(90)
    with api.client.app.state.sessionmaker() as session:
        rows = {job_id: session.get(Job, job_id) for job_id in (own, shared_a, shared_b)}
        masks = {
            job_id: job.parameters["regions"][0]["mask_sha256"] for job_id, job in rows.items()
        }
        session.execute(
            update(Job)
            .where(Job.id.in_(rows))
            .values(status=JobStatus.succeeded, finished_at=utcnow())
        )
        session.commit()
    assert masks[shared_a] == masks[shared_b] != masks[own]
    assert all(storage.exists(key) for key in masks.values())

    for job_id in (own, shared_a):
        deleted = api.client.delete(f"/v1/jobs/{job_id}/files", headers=api.headers())
        assert deleted.status_code == 200, deleted.text

    assert not storage.exists(masks[own])  # its job's files are gone, its region's mask too
    assert storage.exists(masks[shared_b])  # the live job's region still names it


def test_finished_video_jobs_expire_as_stills_do(api, make_png) -> None:  # noqa: ANN001
    """A clip and its MP4 are the largest files a job keeps: a video job past the retention
    period is among those the sweep expires."""
    job_id = api.submit(content=("c.png", make_png()), style=("s.png", make_png())).json()["id"]
    month_ago = utcnow() - timedelta(days=31)
    with api.client.app.state.sessionmaker() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(kind=JobKind.video, status=JobStatus.succeeded, finished_at=month_ago)
        )
        session.commit()
        due = crud.expirable_jobs(session, finished_before=utcnow() - timedelta(days=30), limit=10)
    assert [job.id for job in due] == [job_id]
