"""The built-in styles: shipped small with their provenance, registered once on a fresh database,
seen by every key, deleted by none, and encoded once for all workers."""

import io

import pytest
from PIL import Image

from app import crud
from app.builtin_styles import FOLDER, builtin_styles


def test_the_shipped_styles_are_small_public_domain_paintings_with_provenance() -> None:
    shipped = builtin_styles()
    assert 12 <= len(shipped) <= 20
    assert len({s.artist for s in shipped}) >= 12  # clearly different hands and styles
    total = 0
    for style in shipped:
        assert all(getattr(style, f).strip() for f in ("title", "artist", "year", "public_domain"))
        with Image.open(style.path) as image:
            assert max(image.size) <= 512, style.file
        total += style.path.stat().st_size
    assert total < 2 * 1024 * 1024
    # Every image in the folder is described; none is described twice.
    files = sorted(p.name for p in FOLDER.glob("*.jpg"))
    assert files == sorted(s.file for s in shipped)


def _styles(api, key: str | None = None) -> list[dict]:
    response = api.client.get("/v1/styles", headers=api.headers(key))
    assert response.status_code == 200
    return response.json()["data"]


def test_a_fresh_database_lists_them_for_every_key_and_none_deletes_them(api_with) -> None:
    shipped = builtin_styles()
    with api_with(builtin_styles=True) as api:
        listed = _styles(api)
        assert [s["name"] for s in listed] == [s.name for s in shipped]
        assert all(s["builtin"] is True for s in listed)
        assert listed[0]["info"]["artist"] == shipped[0].artist
        assert listed[0]["info"]["public_domain"] == shipped[0].public_domain
        assert _styles(api, api.other_key) == listed
        image = api.client.get(listed[0]["image_url"], headers=api.headers(api.other_key))
        assert image.status_code == 200
        assert Image.open(io.BytesIO(image.content)).size == (
            listed[0]["width"],
            listed[0]["height"],
        )
        for key in (api.user_key, api.admin_key):
            refused = api.client.delete(f"/v1/styles/{listed[0]['id']}", headers=api.headers(key))
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "builtin_style"
        # An uploaded style comes first; it is the owner's alone, and deletable.
        own = api.client.post(
            "/v1/styles", headers=api.headers(), files={"image": ("o.png", _png((1, 2, 3)))}
        ).json()
        assert [s["id"] for s in _styles(api)] == [own["id"]] + [s["id"] for s in listed]
        assert _styles(api, api.other_key) == listed
        before = api.state()
    # A restart registers nothing again.
    with api_with(builtin_styles=True) as api:  # (which creates three more keys)
        after = api.state()
        assert after["files"] == before["files"]
        assert after["rows"]["styles"] == before["rows"]["styles"]  # type: ignore[index]
        assert len(_styles(api, api.other_key)) == len(shipped)


def _png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 16), color).save(out, format="PNG")
    return out.getvalue()


def test_a_builtin_style_is_encoded_once_for_all_workers(
    api_with, builtin_model_file, monkeypatch
) -> None:
    pytest.importorskip("torch")
    from models.inference import GANStylizer
    from worker.runtime import Runtime
    from worker.stylization import run_stylize

    encoded = []
    original = GANStylizer.style_stats
    monkeypatch.setattr(
        GANStylizer, "style_stats", lambda self, image: encoded.append(1) or original(self, image)
    )
    with api_with(builtin_styles=True) as api:
        state = api.client.app.state
        with state.sessionmaker() as session:
            crud.register_builtin_model(session, storage=state.storage, path=builtin_model_file)
        style_id = _styles(api)[0]["id"]
        statuses = []
        for worker in ("worker-a:1", "worker-b:2"):  # two processes: no shared memory cache
            rt = Runtime(
                settings=api.settings,
                sessions=state.sessionmaker,
                storage=state.storage,
                name=worker,
            )
            response = api.client.post(
                "/v1/stylizations",
                headers=api.headers(),
                files={"content": ("c.png", _png((200, 10, 10)))},
                data={"style_id": style_id},
            )
            assert response.status_code == 202, response.text
            statuses.append(run_stylize(rt, response.json()["id"]))
    assert [str(s) for s in statuses] == ["succeeded", "succeeded"]
    assert len(encoded) == 1


@pytest.mark.e2e
def test_api_processes_starting_together_register_each_style_once(fresh_stack) -> None:
    """Four registrations at the same moment (as four API processes starting together) on the
    stack's real database: each shipped style once, and the database itself refuses a second."""
    import threading

    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    from app.db import make_engine, make_sessionmaker
    from app.storage import LocalStorage
    from app.tables import Style

    settings = fresh_stack.settings
    engine = make_engine(settings.sqlalchemy_url)
    factory = make_sessionmaker(engine)
    storage = LocalStorage(settings.storage_path)
    start = threading.Barrier(4)
    said: list[str] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            with factory() as session:
                start.wait()
                said.append(crud.register_builtin_styles(session, storage=storage, enabled=True))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors, errors
        shipped = builtin_styles()
        added = sum(int(line.split(": ")[1].split()[0]) for line in said)
        assert added == len(shipped), said
        with factory() as session:
            rows = session.scalars(select(Style.builtin_file).where(Style.is_builtin)).all()
            assert sorted(rows) == sorted(s.file for s in shipped)
            twin = session.scalars(select(Style).where(Style.is_builtin).limit(1)).one()
            session.add(
                Style(
                    id="twin",
                    name=twin.name,
                    image_sha256=twin.image_sha256,
                    is_builtin=True,
                    builtin_file=twin.builtin_file,
                )
            )
            with pytest.raises(IntegrityError):
                session.commit()
            session.rollback()
            count = select(func.count()).select_from(Style).where(Style.is_builtin)
            assert session.scalar(count) == len(shipped)
    finally:
        engine.dispose()
