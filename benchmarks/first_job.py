"""A fresh `atelier serve` on the embedded stack: the first job's model time against the tenth's,
and the time outside the model with a painting uploaded and with a saved (built-in) style.

    python benchmarks/first_job.py [--photo P] [--painting S] [--jobs 10] [--size 512]
                                   [--no-warm-shapes]

It starts `atelier serve` on a new data folder and a free port (the worker loads and warms the
active model before its first job), submits `--jobs` jobs one after the other with `Prefer: wait`
(the photo at --size px, JPEG out, the painting uploaded as sent), then as many with a built-in
style, and reads each job's `result_info.timings`. End to end is the client's time from the
submission to the result's bytes in hand (a second GET); outside the model = end to end - the
worker's model stage. --no-warm-shapes is the baseline of the worker's warm-up at the common
photo shapes (models.inference.common_photo_shapes): run both, alternating, on one CPU.
"""

import argparse
import io
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jpeg(path: Path, size: int) -> bytes:
    image = ImageOps.fit(Image.open(path).convert("RGB"), (size, size))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.TransportError:  # not listening yet
        return False


def run_jobs(
    client: httpx.Client, n: int, files: dict, data: dict
) -> list[tuple[float, float, float]]:
    """(end to end, model, painting statistics) seconds of n jobs, one after the other."""
    rows = []
    for _ in range(n):
        start = time.perf_counter()
        job = client.post(
            "/v1/stylizations", files=files, data=data, headers={"Prefer": "wait=120"}
        ).json()
        result = client.get(job["result_url"])
        end_to_end = time.perf_counter() - start
        assert job["status"] == "succeeded" and result.status_code == 200, job
        timings = job["result_info"]["timings"]
        rows.append((end_to_end, timings["model"], timings.get("style_stats", 0.0)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=SAMPLES / "content" / "golden_gate.jpg")
    parser.add_argument("--painting", type=Path, default=SAMPLES / "style" / "la_muse.jpg")
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--no-warm-shapes",
        action="store_true",
        help="the worker warms one shape only (ATELIER_WARM_PHOTO_SHAPES=false), as before",
    )
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "ATELIER_DATA_DIR": data_dir}
        if args.no_warm_shapes:
            env["ATELIER_WARM_PHOTO_SHAPES"] = "false"
        serve = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from cli.main import main; main()",
                "serve",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            key = None
            assert serve.stdout is not None
            for line in serve.stdout:
                found = re.match(r"\s+(atl_\S+)", line)
                key = key or (found.group(1) if found else None)
                if "open the page" in line:
                    break
            assert key, "no admin key in the serve output"
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=130
            ) as client:  # longer than the jobs' wait=120
                started = time.perf_counter()
                while not ready(client):
                    time.sleep(0.2)
                ready_s = time.perf_counter() - started
                styles = client.get("/v1/styles").json()["data"]
                photo = jpeg(args.photo, args.size)
                painting = args.painting.read_bytes()
                common = {"output_format": "jpeg"}
                uploaded = run_jobs(
                    client,
                    args.jobs,
                    {"content": ("p.jpg", photo), "style": (args.painting.name, painting)},
                    common,
                )
                saved = run_jobs(
                    client,
                    args.jobs,
                    {"content": ("p.jpg", photo)},
                    {**common, "style_id": styles[0]["id"]},
                )
        finally:
            serve.terminate()
            serve.wait(30)
    print(
        f"fresh atelier serve, {args.size} px photo, {len(painting) // 1024} KiB painting, "
        f"{'one warm shape' if args.no_warm_shapes else 'the common photo shapes warm'}"
    )
    print(f"API answered /readyz {ready_s:.1f} s after serve printed its key")
    first, tenth = uploaded[0][1], uploaded[min(9, len(uploaded) - 1)][1]
    print(
        f"model time: first job {first * 1000:.0f} ms, tenth {tenth * 1000:.0f} ms "
        f"({first / tenth:.2f}x)"
    )
    # The graph compiled for the photo's shape lands on one of the later jobs (its compile in
    # that job's model time; models.backends.specialise), which may be the tenth: the median of
    # the others says what a warm job costs whichever it is.
    others = statistics.median(row[1] for row in uploaded[1:])
    print(
        f"model time: first job against the median of jobs 2-{len(uploaded)}: "
        f"{others * 1000:.0f} ms ({first / others:.2f}x)"
    )
    print(
        "model time of each job, painting uploaded: "
        + ", ".join(f"{r[1] * 1000:.0f}" for r in uploaded)
        + " ms"
    )
    # A stage of its own, before the model's: an uploaded painting's statistics are computed by
    # the first job and cached in the worker for the jobs after it.
    print(
        f"painting statistics: first job {uploaded[0][2] * 1000:.1f} ms, "
        f"then {statistics.median(r[2] for r in uploaded[1:]) * 1000:.1f} ms (median)"
    )
    for name, rows in (("painting uploaded", uploaded[1:]), ("saved style", saved[1:])):
        e2e = statistics.median(r[0] for r in rows)
        model = statistics.median(r[1] for r in rows)
        outside = statistics.median(r[0] - r[1] for r in rows)
        print(
            f"{name:18s} end to end {e2e * 1000:6.0f} ms, model {model * 1000:6.0f} ms, "
            f"outside the model {outside * 1000:5.0f} ms (median of {len(rows)})"
        )


if __name__ == "__main__":
    main()
