"""The API in process (a TestClient on the ASGI app) on a migrated embedded stack in a folder
of its own, with three keys (a user, another user, an admin) and a snapshot of what a request
wrote, so that a test can prove a rejected request wrote nothing."""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app import crud
from app.config import Settings
from app.db import make_engine, make_sessionmaker, upgrade
from app.main import create_app
from app.tables import ApiKey, Job, ModelFile, StoredImage, Style


def embedded_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "run_reaper": False,
        "max_upload_bytes": 256 * 1024,
        "max_pixels": 1_000_000,
        "max_upload_side": 2048,
        "encoder": "random",
        "optimisation_steps": 3,
        "optimisation_size": 64,
        "builtin_model": "",  # tests that want one name their own tiny file
        "builtin_styles": False,  # tests that want them ask (listings stay the test's own)
        "graph_cache_dir": os.environ["ATELIER_GRAPH_CACHE"],  # one export per session
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Api:
    client: TestClient
    settings: Settings
    user_key: str
    other_key: str
    admin_key: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.user_key}"}

    def state(self) -> dict[str, object]:
        """What a rejected request must leave unchanged: stored files, row counts, and the
        folder a clip is spooled to while it streams in (empty between requests)."""
        app_state = self.client.app.state  # type: ignore[attr-defined]
        with app_state.sessionmaker() as session:
            counts = {
                table.__tablename__: session.scalar(select(func.count()).select_from(table))
                for table in (Job, StoredImage, Style, ModelFile, ApiKey)
            }
        return {"files": app_state.storage.keys(), "rows": counts, "uploads": self.uploads()}

    def uploads(self) -> list[Path]:
        """The files in the upload (spool) folder."""
        folder = self.settings.upload_path
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []

    def submit(self, key: str | None = None, **files_and_fields: object) -> object:
        files = {k: v for k, v in files_and_fields.items() if isinstance(v, tuple)}
        data = {k: v for k, v in files_and_fields.items() if not isinstance(v, tuple)}
        data.setdefault("method", "optimisation")  # no model in these tests unless they add one
        return self.client.post(
            "/v1/stylizations", headers=self.headers(key), files=files, data=data
        )


def open_api(data_dir: Path, **overrides: object) -> contextlib.AbstractContextManager[Api]:
    @contextlib.contextmanager
    def _open() -> Iterator[Api]:
        settings = embedded_settings(data_dir, **overrides)
        upgrade(settings.sqlalchemy_url)
        engine = make_engine(settings.sqlalchemy_url)
        with make_sessionmaker(engine)() as session:
            _, user = crud.create_api_key(session, name="user", is_admin=False)
            _, other = crud.create_api_key(session, name="other", is_admin=False)
            _, admin = crud.create_api_key(session, name="admin", is_admin=True)
        engine.dispose()
        with TestClient(create_app(settings)) as client:
            yield Api(client, settings, user, other, admin)

    return _open()
