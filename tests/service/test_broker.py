"""The embedded broker (app/broker.py) when several processes meet a fresh broker file at once,
as two workers started together do: each must come up with its queue declared, none may die on
the other's table or queue row (CI caught a worker dying on `UNIQUE constraint failed:
kombu_queue.name`)."""

import multiprocessing
import sqlite3
from pathlib import Path

PROCESSES = 4
FRESH_FILES = 6  # the race is timing-dependent: several fresh files make losing it likely


def _declare_then_send(url: str, start_together: object, results: object) -> None:
    from kombu import Connection

    from app import broker

    broker.register()
    start_together.wait()  # type: ignore[attr-defined]
    try:
        with Connection(url) as connection:
            channel = connection.channel()
            channel.queue_declare("inference")
            channel._put("inference", {"body": "ring"})
        results.put("ok")  # type: ignore[attr-defined]
    except Exception as error:  # noqa: BLE001 - the test reports whatever killed the process
        results.put(f"{type(error).__name__}: {str(error).splitlines()[0]}")  # type: ignore[attr-defined]


def test_processes_declaring_the_same_queue_on_a_fresh_broker_all_come_up(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    for attempt in range(FRESH_FILES):
        url = f"sqla+sqlite:///{tmp_path / f'broker-{attempt}.sqlite'}"
        start_together = spawn.Barrier(PROCESSES)
        results = spawn.Queue()
        processes = [
            spawn.Process(target=_declare_then_send, args=(url, start_together, results))
            for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        assert outcomes == ["ok"] * PROCESSES, (attempt, outcomes)

        with sqlite3.connect(tmp_path / f"broker-{attempt}.sqlite") as db:
            queues = db.execute("SELECT name FROM kombu_queue").fetchall()
            messages = db.execute("SELECT COUNT(*) FROM kombu_message").fetchone()[0]
        assert queues == [("inference",)]  # one row, whoever made it
        assert messages == PROCESSES  # every process's send landed
