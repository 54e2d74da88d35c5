"""Exported graphs shared by workers through the job store and storage (worker.graph_cache),
and a worker or the CLI refusing a backend it cannot run, at start."""

import logging
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, embedded_settings

from app.db import make_engine, make_sessionmaker
from app.storage import storage_for
from worker.runtime import Runtime


def worker_runtime(job_store: str, root: Path, name: str, graphs: Path) -> Runtime:
    """A worker's context: the shared job store and storage, a graph folder of its own."""
    settings = embedded_settings(
        root / name,
        database_url=job_store,
        storage_dir=root / "storage",
        graph_cache_dir=graphs,
        backend="onnxruntime",
    )
    return Runtime(
        settings=settings,
        sessions=make_sessionmaker(make_engine(job_store)),
        storage=storage_for(settings),
        name=name,
    )


def test_a_second_worker_takes_the_graphs_the_first_exported(
    job_store, tmp_path, builtin_model_file, caplog
) -> None:
    """The first worker's folder is the session's (the encoder's graph exported once per
    session); the second starts with an empty folder and exports nothing."""
    caplog.set_level(logging.INFO)
    first = worker_runtime(job_store, tmp_path, "first", Path(os.environ["ATELIER_GRAPH_CACHE"]))
    assert first.stylizer(builtin_model_file, "model").backend_info["name"] == "onnxruntime"
    caplog.clear()

    second = worker_runtime(job_store, tmp_path, "second", tmp_path / "second-graphs")
    again = second.stylizer(builtin_model_file, "model")
    assert again.backend_info["name"] == "onnxruntime"
    assert not any("exported the" in r.message for r in caplog.records)
    fetched = [r.message for r in caplog.records if "fetched from storage" in r.message]
    assert len(fetched) == 2  # the encoder's graph and the model's render graph
    assert len(list((tmp_path / "second-graphs").glob("*.bin"))) == 2


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PATH": os.environ["PATH"], **env},
    )


def test_an_unknown_backend_stops_the_service_at_start_naming_the_choices(tmp_path) -> None:
    for command in (["worker"], ["serve"], ["api"]):
        result = run_cli(*command, ATELIER_DATA_DIR=str(tmp_path), ATELIER_BACKEND="nonsense")
        assert result.returncode == 2, result.stderr
        assert "ATELIER_BACKEND" in result.stderr
        assert "choose one of auto, torch, onnxruntime, openvino" in result.stderr
        assert "Traceback" not in result.stderr


BLOCK_OPENVINO = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'openvino':
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
"""


def test_a_backend_that_is_not_installed_stops_the_worker_at_start(tmp_path) -> None:
    """A machine without OpenVINO told to use it: the worker exits at start with the package
    to install, before it takes a job (not a crash mid-job)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_OPENVINO)
    data = tmp_path / "data"
    migrated = run_cli("db", "upgrade", ATELIER_DATA_DIR=str(data))
    assert migrated.returncode == 0, migrated.stderr
    result = run_cli(
        "worker",
        ATELIER_DATA_DIR=str(data),
        ATELIER_BACKEND="openvino",
        PYTHONPATH=str(site),
        ATELIER_BUILTIN_MODEL="",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "backend 'openvino' needs the package openvino" in result.stderr
