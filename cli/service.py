"""Service commands: `serve` (the embedded stack), `api`, `worker`, `db upgrade`, `keys create`.

Each command imports the web stack inside its body; only `worker` loads torch (via `models`).
"""

import os
import signal
import subprocess
import sys
import threading
from typing import Annotated, Any

import typer

db_app = typer.Typer(help="The job store database.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)

HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]


def register(app: typer.Typer) -> None:
    """Attach the service commands to the root `atelier` app."""
    app.command()(serve)
    app.command()(api)
    app.command()(worker)
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")


def _engine() -> Any:
    from app.config import get_settings
    from app.db import make_engine

    return make_engine(get_settings().sqlalchemy_url)


def _require_migrated(engine: Any) -> None:
    from app.db import NotMigratedError, check_migrated

    try:
        check_migrated(engine)
    except NotMigratedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _migrate() -> None:
    """Apply the migrations, then register the built-in model (every start path that migrates)."""
    from app import crud
    from app.config import get_settings
    from app.db import make_sessionmaker, upgrade
    from app.storage import storage_for

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    typer.echo("database is up to date")
    engine = _engine()
    try:
        with make_sessionmaker(engine)() as session:
            storage = storage_for(settings)
            path = settings.builtin_model_path
            typer.echo(crud.register_builtin_model(session, storage=storage, path=path))
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (creates the SQLite file on the embedded default) and
    register the built-in model."""
    _migrate()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who the key is for.")],
    admin: Annotated[bool, typer.Option("--admin", help="May upload and activate models.")] = False,
    rate: Annotated[
        str | None,
        typer.Option(
            help='Job submissions allowed, e.g. "60/minute" ("": none). Default: the '
            "ATELIER_RATE_LIMIT setting."
        ),
    ] = None,
    max_active: Annotated[
        int | None,
        typer.Option(min=0, help="Unfinished jobs at once (0: no limit). Default: the setting."),
    ] = None,
    daily: Annotated[
        int | None,
        typer.Option(min=0, help="Jobs per UTC day (0: no limit). Default: the setting."),
    ] = None,
) -> None:
    """Create an API key and print it once (alone on the last line of stdout)."""
    from app import crud
    from app.db import make_sessionmaker
    from app.limits import parse_rate

    if rate is not None:
        try:
            parse_rate(rate)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--rate") from exc
    engine = _engine()
    _require_migrated(engine)
    with make_sessionmaker(engine)() as session:
        row, secret = crud.create_api_key(
            session,
            name=name,
            is_admin=admin,
            rate_limit=rate,
            max_active_jobs=max_active,
            daily_job_quota=daily,
        )
    kind = "admin key" if admin else "key"
    typer.echo(f"created {kind} #{row.id} for {name!r}; it is shown only this once:")
    typer.echo(secret)


def worker_argv(queues: str, pool: str, concurrency: int, loglevel: str) -> list[str]:
    # Gossip, mingle and worker heartbeats need broadcast messages, which kombu's SQL transport
    # lacks; liveness comes from the jobs table instead.
    return [
        "worker",
        # A node name of its own: Celery's default (celery@<host>) is the same for every worker
        # on a host, and on RabbitMQ the second one then dies at start (its remote-control
        # queue, exclusive, is taken: RESOURCE_LOCKED), leaving one worker where two were run.
        "--hostname",
        f"atelier-{os.getpid()}@%h",
        "-Q",
        queues,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def worker(
    queues: Annotated[
        str, typer.Option("-Q", "--queues", help="Comma-separated queues to consume.")
    ] = "inference,training",
    pool: Annotated[
        str,
        typer.Option(help="solo: one process per GPU (CUDA cannot re-initialise in a fork)."),
    ] = "solo",
    concurrency: Annotated[int, typer.Option(help="Processes, for --pool prefork.")] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run a Celery worker that executes stylization jobs."""
    _require_migrated(_engine())
    from app.config import get_settings
    from contracts.backends import missing_backend

    problem = missing_backend(get_settings().backend)
    if problem is not None:  # at start, not as a failed first job
        typer.echo(f"error: {problem} (ATELIER_BACKEND)", err=True)
        raise typer.Exit(code=2)
    from worker.provenance import ProvenanceError, check_provenance

    try:  # a key that cannot sign, at start too
        typer.echo(check_provenance(get_settings()))
    except ProvenanceError as exc:
        typer.echo(f"error: {exc} (ATELIER_C2PA_CERT, ATELIER_C2PA_KEY)", err=True)
        raise typer.Exit(code=2) from None
    from worker.celery_app import celery_app

    celery_app.worker_main(worker_argv(queues, pool, concurrency, loglevel))


def api(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """Run the HTTP API (FastAPI under uvicorn)."""
    import uvicorn

    _require_migrated(_engine())
    uvicorn.run("app.main:app", host=host, port=port, proxy_headers=True)


class _WorkerSupervisor:
    """Keeps one worker subprocess running until `stop()`; restarts it if it dies."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            # Own process group: a Ctrl-C reaches it once, through stop(), not twice.
            self.proc = subprocess.Popen(self.argv, start_new_session=True)
            code = self.proc.wait()
            if self.stopping.wait(2.0):
                return
            typer.echo(f"worker exited with {code}; restarting it", err=True)

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # Celery's warm shutdown: finish or hand back the task
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """Run the whole embedded stack: migrate, then the API and one worker; Ctrl-C stops both."""
    import uvicorn

    from app import crud
    from app.config import get_settings
    from app.db import make_sessionmaker

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _migrate()
    engine = _engine()
    with make_sessionmaker(engine)() as session:
        admin_secret = None
        if not crud.has_admin_key(session):
            _, admin_secret = crud.create_api_key(session, name="admin", is_admin=True)
    engine.dispose()

    argv = [sys.executable, "-c", "from cli.main import main; main()", "worker"]
    supervisor = _WorkerSupervisor(argv)
    supervisor.start()
    url = f"http://{host}:{port}"
    typer.echo(f"Atelier is running at {url} (API docs: {url}/docs)")
    typer.echo(f"data folder: {settings.data_dir.resolve()}")
    if admin_secret:
        typer.echo("admin API key (shown only on this first start; keep it):")
        typer.echo(f"  {admin_secret}")
        typer.echo(f"try: curl -H 'Authorization: Bearer {admin_secret}' {url}/v1/jobs")
        # The fragment never reaches the server or its logs; the page keeps the key and drops it.
        typer.echo(f"open the page (signed in): {url}/#key={admin_secret}")
    else:
        typer.echo("use the admin key printed on first start, or: atelier keys create --name NAME")
        typer.echo(f"open the page and paste a key: {url}/")

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal: these handlers
    # turn that into an exception so the worker is stopped before this process exits.
    def _stop(_signum: int, _frame: object) -> None:
        raise _Stopped

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        uvicorn.run("app.main:app", host=host, port=port, log_level="info")
    except _Stopped:
        pass
    finally:
        typer.echo("stopping the worker...")
        supervisor.stop()
        typer.echo("stopped")


class _Stopped(Exception):
    pass
