"""Admin commands that talk to a running API with an admin key:

    atelier style-sets create NAME DIR
    atelier trainings start --style-set ID [--base-model ID] [--steps N ...]   (follows progress)
    atelier trainings watch JOB_ID
    atelier models list | activate ID [--force --reason R] | rollback

The API address and key come from --url / --key or ATELIER_API_URL / ATELIER_API_KEY. Only
httpx and rich are imported: these commands run on an admin's laptop without torch.
"""

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from contracts.images import IMAGE_SUFFIXES, has_image_suffix

style_sets_app = typer.Typer(help="Style sets (admin).", no_args_is_help=True)
trainings_app = typer.Typer(help="Fine-tuning jobs (admin).", no_args_is_help=True)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)

UrlOpt = Annotated[str, typer.Option("--url", envvar="ATELIER_API_URL", help="The API's base URL.")]
KeyOpt = Annotated[str, typer.Option("--key", envvar="ATELIER_API_KEY", help="An admin API key.")]


def register(app: typer.Typer) -> None:
    """Attach the admin command groups to the root `atelier` app."""
    app.add_typer(style_sets_app, name="style-sets")
    app.add_typer(trainings_app, name="trainings")
    app.add_typer(models_app, name="models")


def _client(url: str, key: str) -> Any:
    import httpx

    return httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=120
    )


def _check(response: Any) -> Any:
    """The JSON body, or exit 1 with the API's error code and message."""
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = response.text[:500]
        typer.echo(f"error ({response.status_code}) {message}", err=True)
        raise typer.Exit(1)
    return response.json() if response.content else None


def _print_checks(body: dict[str, Any]) -> None:
    for check in body.get("checks", []):
        typer.echo(f"  check {check['code']}: {check['message']}")


@style_sets_app.command("create")
def style_sets_create(
    name: Annotated[str, typer.Argument(help="The set's name.")],
    directory: Annotated[
        Path, typer.Argument(help="Folder of images.", exists=True, file_okay=False)
    ],
    url: UrlOpt = "http://127.0.0.1:8000",
    key: KeyOpt = "",
    content: Annotated[
        bool, typer.Option("--content", help="Create a content (photo) set instead.")
    ] = False,
) -> None:
    """Upload a folder of paintings as a style set; prints the data checks, then the set id."""
    paths = sorted(p for p in directory.iterdir() if has_image_suffix(p.name))
    if not paths:
        typer.echo(f"error: no images ({', '.join(IMAGE_SUFFIXES)}) in {directory}", err=True)
        raise typer.Exit(2)
    files = [("images", (p.name, p.read_bytes())) for p in paths]
    kind = "content" if content else "style"
    with _client(url, key) as client:
        body = _check(client.post(f"/v1/{kind}-sets", files=files, data={"name": name}))
    typer.echo(f"created {kind} set {name!r} with {body['image_count']} images")
    _print_checks(body)
    typer.echo(body["id"])


def _describe(job: dict[str, Any]) -> str:
    info = job.get("progress_info") or {}
    parts = [job["status"]]
    if info.get("phase") and job["status"] == "running":
        parts = [info["phase"]]
    if "step" in info:
        parts.append(f"step {info['step']}/{info.get('total', '?')}")
    losses = info.get("losses") or {}
    if losses:
        parts.append(f"g {losses.get('g', 0):.3f} d {losses.get('d', 0):.3f}")
    if info.get("images_per_s"):
        parts.append(f"{info['images_per_s']:.1f} img/s")
    return " | ".join(parts)


def _follow(client: Any, job_id: str, interval: float) -> dict[str, Any]:
    """Poll the job with a progress bar (percent, step, losses, ETA) until it finishes."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    finished = ("succeeded", "failed", "canceled")
    columns = (
        TextColumn("[bold]training"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("queued", total=100)
        while True:
            job = _check(client.get(f"/v1/jobs/{job_id}"))
            bar.update(task, completed=job["progress"] * 100, description=_describe(job))
            if job["status"] in finished:
                return job
            time.sleep(interval)


def _report(job: dict[str, Any]) -> None:
    typer.echo(f"job {job['id']} {job['status']}")
    if job["status"] != "succeeded":
        error = job.get("error") or {}
        typer.echo(f"  {error.get('code', '')}: {error.get('message', '')}")
        raise typer.Exit(1)
    result = job["result_info"]
    gate = result.get("gate") or {}
    verdict = "passed" if gate.get("passed") else "failed"
    reasons = "; ".join(f["code"] for f in gate.get("failures", []))
    typer.echo(f"  model {result['model_id']}: gate {verdict}{f' ({reasons})' if reasons else ''}")
    scores = result.get("evaluation") or {}
    if scores:
        typer.echo("  " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()))


@trainings_app.command("start")
def trainings_start(
    style_set: Annotated[str, typer.Option("--style-set", help="Style set id.")],
    url: UrlOpt = "http://127.0.0.1:8000",
    key: KeyOpt = "",
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Model id to fine-tune (default: none).")
    ] = None,
    content_set: Annotated[
        str | None,
        typer.Option("--content-set", help="Content set id (default: the worker's folder)."),
    ] = None,
    name: Annotated[str, typer.Option(help="Name of the new model version.")] = "model",
    steps: Annotated[int | None, typer.Option(help="Training steps.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Training crop size.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="Any other field, KEY=VALUE (e.g. -p lr_g=1e-4), repeatable."
        ),
    ] = None,
    follow: Annotated[bool, typer.Option(help="Show progress until the job finishes.")] = True,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 1.0,
) -> None:
    """Start a fine-tuning job; with --follow (default) show its progress and the gate verdict."""
    import json

    body: dict[str, Any] = {"style_set_id": style_set, "name": name}
    optional = {
        "base_model_id": base_model,
        "content_set_id": content_set,
        "steps": steps,
        "image_size": image_size,
        "batch_size": batch_size,
        "seed": seed,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    for item in param or []:
        field, sep, raw = item.partition("=")
        if not sep:
            typer.echo(f"error: --param {item!r} is not KEY=VALUE", err=True)
            raise typer.Exit(2)
        try:
            body[field] = json.loads(raw)
        except json.JSONDecodeError:
            body[field] = raw
    with _client(url, key) as client:
        job = _check(client.post("/v1/admin/trainings", json=body))
        typer.echo(f"started training job {job['id']}")
        if not follow:
            typer.echo(job["id"])
            return
        _report(_follow(client, job["id"], interval))


@trainings_app.command("watch")
def trainings_watch(
    job_id: Annotated[str, typer.Argument(help="Training job id.")],
    url: UrlOpt = "http://127.0.0.1:8000",
    key: KeyOpt = "",
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 1.0,
) -> None:
    """Follow a training job's progress until it finishes."""
    with _client(url, key) as client:
        _report(_follow(client, job_id, interval))


@models_app.command("list")
def models_list(url: UrlOpt = "http://127.0.0.1:8000", key: KeyOpt = "") -> None:
    """Model versions, newest first: active mark, gate verdict, scores."""
    with _client(url, key) as client:
        models = _check(client.get("/v1/models"))["data"]
    for m in models:
        gate = m.get("gate") or {}
        verdict = "-" if not gate else ("pass" if gate.get("passed") else "FAIL")
        scores = m.get("evaluation") or {}
        metrics = " ".join(
            f"{k}={scores[k]:.4g}" for k in ("content", "style", "kid") if k in scores
        )
        mark = "*" if m["is_active"] else " "
        typer.echo(f"{mark} {m['id']}  {m['name']:<20} gate {verdict:<4} {metrics}")


@models_app.command("activate")
def models_activate(
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    url: UrlOpt = "http://127.0.0.1:8000",
    key: KeyOpt = "",
    force: Annotated[bool, typer.Option(help="Override a failed quality gate.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force).")] = None,
) -> None:
    """Make a model the default for new stylizations."""
    body = {"force": force, "reason": reason} if force or reason else None
    with _client(url, key) as client:
        model = _check(client.post(f"/v1/models/{model_id}/activate", json=body))
    typer.echo(f"active model: {model['id']} ({model['name']})")


@models_app.command("rollback")
def models_rollback(url: UrlOpt = "http://127.0.0.1:8000", key: KeyOpt = "") -> None:
    """Re-activate the model that was active before the current one."""
    with _client(url, key) as client:
        models = _check(client.post("/v1/models/rollback"))["data"]
    active = next((m for m in models if m["is_active"]), None)
    typer.echo(
        f"active model: {active['id']} ({active['name']})"
        if active
        else "no GAN model active (the optimisation method)"
    )
