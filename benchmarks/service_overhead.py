"""Service overhead: a 512 px stylization through HTTP + Celery versus calling `models` directly.

    python benchmarks/service_overhead.py [--runs 10] [--methods gan,optimisation] [--clients 4]

In one run, for each method (the GAN with the shipped model, and the optimisation method), it
times (1) the model called in this process (the model time), then (2) the same job submitted
over HTTP to a uvicorn API with one `atelier worker`, on the embedded stack (SQLite job store and
broker) and on Redis + PostgreSQL. End to end is what a REST client waits for: the submission
with `Prefer: wait` until the result's bytes are in hand (a second GET, or the image in the
answer itself with `--accept-image`). Warm-up jobs come first, so the worker's one-time model
load is not counted. Outside the model = end to end - model time.

It then prints the stage table: the medians of the worker's `result_info.timings` and of the
API's own stages (its `Server-Timing` header), and, with `--clients N`, the throughput of N
concurrent clients against one worker (jobs/s against 1 / model time).
"""

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def photo(seed: int, size: int = 512) -> Image.Image:
    image = Image.new("RGB", (size, size))
    image.putdata(
        [
            ((x * 3 + seed * 40) % 256, (y * 2 + x) % 256, (x * y // 97 + seed * 90) % 256)
            for y in range(size)
            for x in range(size)
        ]
    )
    return image


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values) if values else float("nan")


def direct_model(
    args: argparse.Namespace, method: str, content: Image.Image, style: Image.Image
) -> Callable[[], float]:
    """The model called directly, as the worker calls it (a GAN style's statistics computed once,
    as the worker caches them per style): returns a function that times one call."""
    from models.inference import load_stylizer

    stylizer: Any = load_stylizer(
        args.model if method == "gan" else None,
        encoder=args.encoder,
        device=args.device,
        optimisation_steps=args.steps,
        optimisation_size=args.opt_size,
    )
    styles = [stylizer.style_stats(style)] if method == "gan" else [style]
    stylizer(content, styles, tile_size=1024)  # warm-up, as the worker's first job

    def one_call() -> float:
        start = time.perf_counter()
        stylizer(content, styles, tile_size=1024)
        return time.perf_counter() - start

    return one_call


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_timing(header: str) -> dict[str, float]:
    """`Server-Timing: read_body;dur=1.2, validate;dur=3.4` -> {stage: seconds}."""
    stages = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        if rest.startswith("dur="):
            stages[name] = float(rest[4:]) / 1000
    return stages


class Run:
    """One job as a client saw it: end to end, the worker's and the API's stages."""

    def __init__(self, seconds: float, job: dict[str, Any], api: dict[str, float]) -> None:
        self.seconds = seconds
        self.worker: dict[str, float] = job.get("result_info", {}).get("timings", {})
        self.api = api


def one_job(
    client: httpx.Client, method: str, content: bytes, style: bytes, accept_image: bool
) -> Run:
    start = time.perf_counter()
    headers = {"Prefer": "wait=600"}
    if accept_image:
        headers["Accept"] = "image/*"
    response = client.post(
        "/v1/stylizations",
        headers=headers,
        files={"content": ("c.png", content), "style": ("s.png", style)},
        data={"method": method},
    )
    api = server_timing(response.headers.get("server-timing", ""))
    if response.headers["content-type"].startswith("image/"):
        seconds = time.perf_counter() - start
        job = client.get(response.headers["location"]).json()
    else:
        job = response.json()
        assert job["status"] == "succeeded", job
        result = client.get(job["result_url"])
        assert result.status_code == 200
        seconds = time.perf_counter() - start
        api.update(
            {
                f"result_{k}": v
                for k, v in server_timing(result.headers.get("server-timing", "")).items()
            }
        )
    return Run(seconds, job, api)


def service_runs(
    args: argparse.Namespace,
    env_extra: dict[str, str],
    jobs: Callable[[httpx.Client, Callable[[], httpx.Client]], dict[str, Any]],
) -> dict[str, Any]:
    """Start an API and one worker on a fresh stack and hand `jobs` a client (and a factory)."""
    from app import crud
    from app.config import Settings
    from app.db import make_engine, make_sessionmaker, upgrade
    from app.storage import LocalStorage

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env.update(
            {
                "ATELIER_DATA_DIR": tmp,
                "ATELIER_ENCODER": args.encoder,
                "ATELIER_DEVICE": args.device,
                "ATELIER_OPTIMISATION_STEPS": str(args.steps),
                "ATELIER_OPTIMISATION_SIZE": str(args.opt_size),
                "ATELIER_BUILTIN_MODEL": str(args.model),
                "ATELIER_RUN_REAPER": "false",  # no crash to recover from in a benchmark
                **env_extra,
            }
        )
        settings = Settings(
            **{k[8:].lower(): v for k, v in env.items() if k.startswith("ATELIER_")}
        )
        upgrade(settings.sqlalchemy_url)
        engine = make_engine(settings.sqlalchemy_url)
        with make_sessionmaker(engine)() as session:
            crud.register_builtin_model(
                session,
                storage=LocalStorage(settings.storage_path),
                path=settings.builtin_model_path,
            )
            _, key = crud.create_api_key(session, name="bench", is_admin=False)
        engine.dispose()
        port = free_port()
        logs = open(Path(tmp) / "procs.log", "wb")  # noqa: SIM115
        argvs = [
            ["-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"],
            ["-c", "from cli.main import main; main()", "worker", "--loglevel", "WARNING"],
        ]
        procs = [
            subprocess.Popen([sys.executable, *a], cwd=REPO, env=env, stdout=logs, stderr=logs)
            for a in argvs
        ]

        def make_client() -> httpx.Client:
            return httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                timeout=600,
                headers={"Authorization": f"Bearer {key}"},
            )

        try:
            client = make_client()
            for _ in range(300):
                try:
                    client.get("/healthz")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            return jobs(client, make_client)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)


def throughput(
    make_client: Callable[[], httpx.Client],
    method: str,
    content: bytes,
    style: bytes,
    clients: int,
    jobs_each: int,
    accept_image: bool,
) -> tuple[float, list[Run]]:
    """Jobs per second with `clients` clients each submitting `jobs_each` jobs back to back,
    and the runs (their worker stages)."""
    errors: list[BaseException] = []
    runs: list[Run] = []

    def client_loop() -> None:
        try:
            with make_client() as client:
                for _ in range(jobs_each):
                    runs.append(one_job(client, method, content, style, accept_image))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return clients * jobs_each / (time.perf_counter() - start), runs


def postgres_url() -> str | None:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", connect_timeout=2) as conn:
            conn.autocommit = True
            conn.execute("DROP DATABASE IF EXISTS atelier_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE atelier_bench")
        return "postgresql+psycopg://postgres@127.0.0.1:5432/atelier_bench"
    except Exception:
        return None


def stage_table(runs: list[Run]) -> None:
    """Medians of each stage, worker's then API's, in the order they were recorded."""
    for side, per_run in (("worker", [r.worker for r in runs]), ("api", [r.api for r in runs])):
        names = list(dict.fromkeys(name for stages in per_run for name in stages))
        for name in names:
            values = [s[name] for s in per_run if name in s]
            print(f"    {side:6s} {name:22s} {median_ms(values):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed GAN jobs per stack")
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--opt-runs", type=int, default=1, help="timed optimisation jobs")
    parser.add_argument("--methods", default="gan,optimisation")
    parser.add_argument("--stacks", default="embedded,redis")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--size", type=int, default=512, help="the photo's side")
    parser.add_argument("--steps", type=int, default=100, help="optimisation steps")
    parser.add_argument("--opt-size", type=int, default=384, help="optimisation size")
    parser.add_argument("--encoder", default="efficientnet-lite0")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--accept-image", action="store_true", help="Accept: image/* on submit")
    parser.add_argument("--clients", type=int, default=0, help="throughput with N clients (GAN)")
    parser.add_argument("--jobs-each", type=int, default=5)
    args = parser.parse_args()
    if args.model is None:
        from contracts.modelfile import SHIPPED_MODEL

        args.model = Path(SHIPPED_MODEL)

    content, style = photo(1, args.size), photo(2, args.size)
    content_png, style_png = png(content), png(style)
    all_stacks = {"embedded": ("embedded (SQLite, serverless broker)", {})}
    if "redis" in args.stacks:
        pg = postgres_url()
        all_stacks["redis"] = (
            f"Redis + {'PostgreSQL' if pg else 'SQLite'}",
            {
                "ATELIER_BROKER_URL": args.redis,
                "ATELIER_BROKER_KEY_PREFIX": "atelier-bench:",
                **({"ATELIER_DATABASE_URL": pg} if pg else {}),
            },
        )
    stacks = [all_stacks[s] for s in args.stacks.split(",")]
    for method in args.methods.split(","):
        runs_n = args.runs if method == "gan" else args.opt_runs
        print(
            f"\n{args.size}x{args.size} job, method {method}"
            + (f" ({args.model.name})" if method == "gan" else f", {args.steps} steps")
            + f", {runs_n} timed runs after {args.warmups} warm-ups (medians)"
            + (", Accept: image/*" if args.accept_image else "")
        )
        # A direct call before each timed job, so both see the same load on a busy machine.
        direct = direct_model(args, method, content, style)
        for name, env in stacks:

            def jobs(
                client: httpx.Client,
                make_client: Callable[[], httpx.Client],
                method: str = method,
                runs_n: int = runs_n,
                direct: Callable[[], float] = direct,
            ) -> dict[str, Any]:
                for _ in range(args.warmups):
                    one_job(client, method, content_png, style_png, args.accept_image)
                runs, models = [], []
                for _ in range(runs_n):
                    models.append(direct())
                    runs.append(one_job(client, method, content_png, style_png, args.accept_image))
                rate = None
                if args.clients and method == "gan":
                    rate = throughput(
                        make_client,
                        method,
                        content_png,
                        style_png,
                        args.clients,
                        args.jobs_each,
                        args.accept_image,
                    )
                return {"runs": runs, "rate": rate, "model": statistics.median(models)}

            try:
                result = service_runs(args, env, jobs)
            except Exception as exc:  # e.g. Redis not running
                print(f"  {name:40s} skipped: {type(exc).__name__}: {exc}")
                continue
            runs: list[Run] = result["runs"]
            model = result["model"]
            e2e = statistics.median(r.seconds for r in runs)
            print(f"  {name}")
            print(f"    model called directly (same run)    {1000 * model:7.1f} ms")
            print(f"    end to end (Prefer: wait to bytes)  {1000 * e2e:7.1f} ms")
            print(
                f"    outside the model                   {1000 * (e2e - model):7.1f} ms"
                f" ({(e2e - model) / model:.2f}x the model)"
            )
            # On a busy machine the model's own time varies run to run; the worker times it for
            # the same job, so this difference is the service's cost alone.
            inside = statistics.median(r.seconds - r.worker.get("model", 0.0) for r in runs)
            print(f"    outside the worker's own model call {1000 * inside:7.1f} ms")
            stage_table(runs)
            if result["rate"] is not None:
                rate, busy = result["rate"]
                print(
                    f"    throughput, {args.clients} clients, one worker: {rate:.2f} jobs/s"
                    f" = {100 * rate * model:.0f}% of 1 / model time ({1 / model:.2f} jobs/s)"
                )
                # Under load: the worker's model call, and its time per job besides the wait.
                timed = [r.worker for r in busy if "wall" in r.worker]  # none before timings
                worker_model = median_ms([t["model"] for t in timed])
                per_job = median_ms([t["wall"] - t.get("dequeue_delay", 0.0) for t in timed])
                print(
                    f"    under load, per job: worker model {worker_model:.1f} ms,"
                    f" worker busy {per_job:.1f} ms"
                )


if __name__ == "__main__":
    main()
