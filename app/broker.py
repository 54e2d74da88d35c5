"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, with two fixes.

Why this transport: it needs no server and keeps messages in one transactional file (SQLite's
`BEGIN IMMEDIATE` makes two consumers unable to take the same message), unlike the filesystem
transport's loose files. Its caveats, and what covers them:
- A delivered message is only hidden (`visible = 0`) and given back on a *clean* worker
  shutdown; a killed worker's message stays hidden forever. The reaper (app.reaper) re-sends
  jobs whose worker stopped heartbeating, so no job depends on that message.
- It polls (1 s by default) and passes *every* transport option to `create_engine`, so the
  documented `polling_interval` option crashes it. `Transport` below strips the options that
  are not engine arguments, so `polling_interval` (0.1 s here) works.
- No fanout exchange: no remote control, events, gossip or mingle (the worker disables them).
- Delivered rows are kept (`visible = 0`): the broker file grows by a row per job, which is
  negligible at the scale of one machine.
"""

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine

_NOT_ENGINE_OPTIONS = ("polling_interval", "visibility_timeout")


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
        return engine


class Transport(kombu_sqla.Transport):
    Channel = Channel


def register() -> None:
    """Make `sqla+...` / `sqlalchemy+...` broker URLs use the fixed transport."""
    TRANSPORT_ALIASES["sqla"] = "app.broker:Transport"
    TRANSPORT_ALIASES["sqlalchemy"] = "app.broker:Transport"
