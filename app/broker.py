"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, with three fixes.

Why this transport: it needs no server and keeps messages in one transactional file (SQLite's
`BEGIN IMMEDIATE` makes two consumers unable to take the same message), unlike the filesystem
transport's loose files. Its caveats, and what covers them:
- A delivered message is only hidden (`visible = 0`) and given back on a *clean* worker
  shutdown; a killed worker's message stays hidden forever. The reaper (app.reaper) re-sends
  jobs whose worker stopped heartbeating, so no job depends on that message.
- It polls (1 s by default) and passes *every* transport option to `create_engine`, so the
  documented `polling_interval` option crashes it. `Transport` below strips the options that
  are not engine arguments, so `polling_interval` (0.1 s here) works.
- Polling alone makes a job wait half the interval on average before a worker sees it, and
  polling faster costs an idle worker CPU (measured: 3% of a core at 0.1 s, 11% at 0.02 s,
  17% at 0.01 s). So a sender also rings a doorbell: each consuming worker listens on a
  loopback UDP port named by a file in `<broker file>.bells/`, and between polls it waits on
  that port instead of sleeping. A lost ring costs one polling interval, never a message.
- No fanout exchange: no remote control, events, gossip or mingle (the worker disables them).
- Delivered rows are kept (`visible = 0`): the broker file grows by a row per job, which is
  negligible at the scale of one machine.
- Its table and queue creation check, then write, guarded only by a lock within one process: two
  workers started together on a fresh broker file raced, and one died at start with `table
  kombu_queue already exists` or `UNIQUE constraint failed: kombu_queue.name` (found by CI).
  `Channel` retries both: the second look finds what the other process made.
"""

import atexit
import contextlib
import os
import select
import socket
import time
from pathlib import Path
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from kombu.transport.virtual.base import Empty
from sqlalchemy import create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

_NOT_ENGINE_OPTIONS = ("polling_interval", "visibility_timeout")
# What a database says when another process created the same table or queue row first.
_LOST_A_CREATE_RACE = (IntegrityError, OperationalError, ProgrammingError)
_CREATE_ATTEMPTS = 5


def _retry_lost_race(create: Any) -> Any:
    """`create()`, tried again (after a short wait) while another process wins the race to
    create the same thing; the last loss is raised."""
    for attempt in range(1, _CREATE_ATTEMPTS):
        try:
            return create()
        except _LOST_A_CREATE_RACE:
            time.sleep(0.05 * attempt)
    return create()


def _fast_commits(dbapi_connection: Any, _record: Any) -> None:
    """WAL without an fsync per commit: a send costs 0.9 ms instead of 19 ms here (and a
    delivery likewise). A crash of a process loses nothing; a power cut may lose the last
    messages, which the reaper re-sends (the jobs table, fully synchronous, is the truth)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Channel(kombu_sqla.Channel):
    def _engine_from_config(self) -> Any:
        conninfo = self.connection.client
        options = {
            k: v
            for k, v in conninfo.transport_options.items()
            if k not in _NOT_ENGINE_OPTIONS
            and k not in ("queue_tablename", "message_tablename", "callback", "errback")
            and not k.startswith(("max_retries", "interval_", "retry_"))
        }
        engine = create_engine(conninfo.hostname, **options)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _fast_commits)
        return engine

    def _open(self) -> Any:
        """kombu's, retried when another process created the tables between the check and the
        create: the retry's check sees them."""
        return _retry_lost_race(super()._open)

    def _get_or_create(self, queue: str) -> Any:
        """The queue's row, inserted if missing; an insert that loses to another process's (a
        unique-name violation) or waits out its write lock is rolled back and read again."""
        session = self.session

        def read_or_insert() -> Any:
            row = session.query(self.queue_cls).filter(self.queue_cls.name == queue).first()
            if row is None:
                row = self.queue_cls(queue)
                session.add(row)
                try:
                    session.commit()
                except _LOST_A_CREATE_RACE:
                    session.rollback()
                    raise
            return row

        return _retry_lost_race(read_or_insert)

    # kombu's stubs disagree between its base classes on these two signatures.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        super()._put(queue, payload, **kwargs)
        ring(bells(self.connection.client.hostname))  # the message is committed: wake a worker


def bells(url: str) -> Path | None:
    """The doorbells' folder of a SQLite broker URL (None for a database with no file)."""
    path = url.split("///", 1)[1] if url.startswith("sqlite:///") else ""
    return Path(path).with_suffix(".bells") if path else None


def ring(folder: Path | None) -> None:
    """Wake the workers listening for messages on this broker (best effort, never raises)."""
    if folder is None:
        return
    try:
        names = os.listdir(folder)
    except OSError:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            pid, _, port = name.partition("-")
            try:
                os.kill(int(pid), 0)  # raises for a worker that died without removing its file
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
                continue
            except (ValueError, PermissionError):
                pass
            with contextlib.suppress(OSError, ValueError):
                sock.sendto(b"!", ("127.0.0.1", int(port)))


class Doorbell:
    """A worker's end: a loopback UDP port, announced by a file `<pid>-<port>` in the folder."""

    def __init__(self, folder: Path) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / f"{os.getpid()}-{self.sock.getsockname()[1]}"
        self.file.touch()
        atexit.register(self.file.unlink, missing_ok=True)

    def wait(self, timeout: float) -> None:
        """Until a ring (rung since the last wait, or now) or `timeout` seconds."""
        readable, _, _ = select.select([self.sock], [], [], timeout)
        while readable:
            try:
                self.sock.recv(64)
            except BlockingIOError:
                return


class Transport(kombu_sqla.Transport):
    Channel = Channel
    _doorbell: Doorbell | None = None

    def drain_events(self, connection: Any, timeout: Any = None) -> Any:  # type: ignore[override]
        """kombu's loop (virtual.Transport.drain_events), waiting on the doorbell where it
        slept for the polling interval."""
        client: Any = self.client
        cycle: Any = self.cycle
        if self._doorbell is None:
            folder = bells(client.hostname)
            self._doorbell = Doorbell(folder) if folder is not None else None
        time_start = time.monotonic()
        polling_interval = self.polling_interval or 0.1
        if timeout:
            polling_interval = min(polling_interval, timeout)
        while True:
            try:
                cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and time.monotonic() - time_start >= timeout:
                    raise TimeoutError() from None
                if self._doorbell is not None:
                    self._doorbell.wait(polling_interval)
                else:
                    select.select([], [], [], polling_interval)


def register() -> None:
    """Make `sqla+...` / `sqlalchemy+...` broker URLs use the fixed transport."""
    TRANSPORT_ALIASES["sqla"] = "app.broker:Transport"
    TRANSPORT_ALIASES["sqlalchemy"] = "app.broker:Transport"
