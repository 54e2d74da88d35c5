"""Campaign throughput: photos per second for one campaign of N photos (default 20) at 1080x1080
with one built-in style, against the same N photos as single jobs, in the same run.

    python benchmarks/campaign.py [--photos 20] [--size 1080x1080] [--stacks embedded,redis]

For each stack it starts a uvicorn API and one `atelier worker` with the shipped model (as
benchmarks/service_overhead.py does), runs one warm-up job (the worker's model load is not
counted), then times, each until every result's bytes are in hand:

- single jobs one by one: a client submits a photo with `Prefer: wait`, fetches the result,
  then the next (what a client without campaigns does);
- single jobs all at once: the N submissions first, then each result (pipelined by hand);
- a campaign: one `POST /v1/campaigns` with the N photos, polled until it ends, then its zip.

and prints photos per second for each, with the campaign's speed-up over one by one.
"""

import argparse
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_overhead import service_runs  # noqa: E402

DATABASE = "atelier_bench_campaign"


def photo_jpeg(seed: int, width: int, height: int) -> bytes:
    """A photo stand-in with structure (gradients and rings), different for each seed."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rings = np.sin(np.hypot(x - width * (seed % 5) / 4, y - height / 2) / (9 + seed))
    rgb = np.stack([x / width * 255, y / height * 255, (rings + 1) * 127.5], axis=-1)
    out = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def builtin_style(client: httpx.Client, title: str) -> str:
    styles = client.get("/v1/styles").json()["data"]
    return next(s["id"] for s in styles if s["builtin"] and s["info"].get("title") == title)


def single(client: httpx.Client, data: bytes, fields: dict[str, str], wait: bool) -> dict[str, Any]:
    headers = {"Prefer": "wait=600"} if wait else {}
    response = client.post(
        "/v1/stylizations",
        headers=headers,
        files={"content": ("photo.jpg", data, "image/jpeg")},
        data=fields,
    )
    assert response.status_code in (200, 201, 202), response.text
    return dict(response.json())


# (seconds until every result is in hand, the finished jobs)
Timed = tuple[float, list[dict[str, Any]]]


def finished(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    """The job once it succeeded, its result's bytes fetched."""
    while job["status"] in ("queued", "running"):
        time.sleep(0.05)
        job = client.get(f"/v1/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    assert client.get(job["result_url"]).status_code == 200
    return job


def one_by_one(client: httpx.Client, photos: list[bytes], fields: dict[str, str]) -> Timed:
    start = time.perf_counter()
    jobs = [finished(client, single(client, data, fields, wait=True)) for data in photos]
    return time.perf_counter() - start, jobs


def all_at_once(client: httpx.Client, photos: list[bytes], fields: dict[str, str]) -> Timed:
    start = time.perf_counter()
    jobs = [single(client, data, fields, wait=False) for data in photos]
    jobs = [finished(client, job) for job in jobs]
    return time.perf_counter() - start, jobs


def worker_busy(jobs: list[dict[str, Any]]) -> float:
    """Median seconds the worker spent on a job (its wall time less the wait in the queue)."""
    timings = [job["result_info"]["timings"] for job in jobs]
    return statistics.median(t["wall"] - t.get("dequeue_delay", 0.0) for t in timings)


def campaign(client: httpx.Client, photos: list[bytes], fields: dict[str, str]) -> Timed:
    start = time.perf_counter()
    shared = {k: v for k, v in fields.items() if k != "style_id"}
    response = client.post(
        "/v1/campaigns",
        files=[("photos", (f"p{i}.jpg", d, "image/jpeg")) for i, d in enumerate(photos)],
        data={**shared, "style_ids": f'["{fields["style_id"]}"]'},
    )
    assert response.status_code == 202, response.text
    state = response.json()
    while state["finished_at"] is None:
        time.sleep(0.05)
        state = client.get(f"/v1/campaigns/{state['id']}").json()
    assert state["counts"]["succeeded"] == len(photos), state["counts"]
    archive = client.get(state["archive_url"])
    assert archive.status_code == 200
    return time.perf_counter() - start, state["children"]


def scratch_postgres() -> str | None:
    """A fresh PostgreSQL database of this benchmark's own (the other benchmarks drop theirs
    when they start, so sharing one would break a run going on beside them)."""
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", connect_timeout=2) as conn:
            conn.autocommit = True
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DATABASE}")
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
    except Exception:
        return None


def redis_stack(redis_url: str) -> tuple[str, dict[str, str]]:
    """Redis as the broker, and PostgreSQL as the job store when it is reachable."""
    env = {"ATELIER_BROKER_URL": redis_url, "ATELIER_BROKER_KEY_PREFIX": "atelier-bench-campaign:"}
    database = scratch_postgres()
    if database:
        env["ATELIER_DATABASE_URL"] = database
    return f"Redis + {'PostgreSQL' if database else 'SQLite'}", env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--size", default="1080x1080", help="the campaign's output_size")
    parser.add_argument("--style", default="The Starry Night", help="a built-in style's title")
    parser.add_argument("--stacks", default="embedded")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--encoder", default="efficientnet-lite0")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    if args.model is None:
        from contracts.modelfile import SHIPPED_MODEL

        args.model = Path(SHIPPED_MODEL)
    args.steps, args.opt_size = 100, 384  # service_runs' settings for the optimisation method

    width, height = (int(v) for v in args.size.split("x"))
    photos = [photo_jpeg(seed, width, height) for seed in range(args.photos)]
    stacks: dict[str, tuple[str, dict[str, str]]] = {
        "embedded": ("embedded (SQLite, serverless broker)", {})
    }
    if "redis" in args.stacks:
        stacks["redis"] = redis_stack(args.redis)
    print(
        f"\n{args.photos} photos -> {args.size}, built-in style '{args.style}', GAN "
        f"({args.model.name}), one worker; until every result's bytes are in hand"
    )
    print(
        f"  {'stack':38s} {'how':26s} {'seconds':>8s} {'photos/s':>9s} {'vs 1 by 1':>9s}"
        f" {'worker s/photo':>15s}"
    )
    for name in args.stacks.split(","):
        title, env = stacks[name]

        def runs(client: httpx.Client, _make: Any) -> dict[str, Timed]:
            fields = {
                "style_id": builtin_style(client, args.style),
                "output_size": args.size,
                "output_format": "jpeg",
            }
            finished(client, single(client, photos[0], fields, wait=True))  # warm-up
            return {
                "single jobs, one by one": one_by_one(client, photos, fields),
                "single jobs, all at once": all_at_once(client, photos, fields),
                "one campaign": campaign(client, photos, fields),
            }

        try:
            seconds = service_runs(args, env, runs)
        except Exception as exc:  # e.g. Redis not running
            print(f"  {title:38s} skipped: {type(exc).__name__}: {exc}")
            continue
        base = seconds["single jobs, one by one"][0]
        for how, (s, jobs) in seconds.items():
            print(
                f"  {title:38s} {how:26s} {s:8.1f} {args.photos / s:9.2f} {base / s:8.2f}x"
                f" {worker_busy(jobs):15.2f}"
            )


if __name__ == "__main__":
    main()
