"""The training job: style set (+ content set or folder) -> fine-tuned model version, evaluated,
gated against its baseline, and registered with its lineage.

Everything a run needs lives in `ATELIER_TRAINING_DIR/<job id>/`: the data as written once,
the base model, the checkpoint (every `checkpoint_every` steps) and the output. A job whose
worker died is re-queued by the reaper; the next worker finds the checkpoint there and resumes
(models.train resumes bit-for-bit), so the step does not restart from 0. A canceled job keeps
its folder and checkpoint; a succeeded one is removed once its model is in storage.
"""

import importlib.metadata
import io
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from app import crud
from app.registry import quality_gate
from app.tables import Job, ModelFile
from contracts.images import has_image_suffix
from contracts.modelfile import read_model_metadata
from contracts.training import train_config_kwargs, worker_parameter
from worker.runtime import Runtime
from worker.tasks import JobCanceled, JobFailed, Progress, style_set_stats

log = logging.getLogger("atelier.worker.training")

TRAIN_SHARE = 0.9  # of the job's progress bar; evaluation takes the rest
MAX_EVAL_STYLES = 8  # a fixed slice of the style set (sorted by digest) for the metrics
REPO = Path(__file__).resolve().parents[1]


def code_version() -> str:
    """`git describe` of the worker's code when it runs from a checkout, else the package's."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        return f"atelier {importlib.metadata.version('atelier')}"


def _write_images(rt: Runtime, folder: Path, keys: list[str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, key in enumerate(keys):
        name = f"{i:04d}-{key[:12]}.png"
        (folder / name).write_bytes(rt.storage.get(key))
        names.append(name)
    return names


def prepare_data(rt: Runtime, job: Job, root: Path) -> dict[str, Any]:
    """Write the job's data once (a resumed run reuses it as it was); returns the manifest."""
    manifest_path = root / "data.json"
    if manifest_path.exists():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        return manifest
    params = job.parameters
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with rt.sessions() as session:
        style_set = crud.get_image_set(session, set_id=params["style_set_id"], kind="style")
        if style_set is None:
            raise JobFailed("style_set_not_found", f"style set {params['style_set_id']} is gone")
        style_keys = sorted(m.image_sha256 for m in crud.set_members(session, set_id=style_set.id))
        manifest = {"style_set": {"id": style_set.id, "name": style_set.name}}
        manifest["style_set"]["digest"] = style_set.digest
        content_keys: list[str] = []
        if params.get("content_set_id"):
            content_set = crud.get_image_set(
                session, set_id=params["content_set_id"], kind="content"
            )
            if content_set is None:
                raise JobFailed("content_set_not_found", "the content set is gone")
            content_keys = sorted(
                m.image_sha256 for m in crud.set_members(session, set_id=content_set.id)
            )
            manifest["content_set"] = {
                "id": content_set.id,
                "name": content_set.name,
                "digest": content_set.digest,
            }
    _write_images(rt, tmp / "style", style_keys)
    if content_keys:
        photos = [(f"{i:04d}-{k[:12]}.png", rt.storage.get(k)) for i, k in enumerate(content_keys)]
    else:
        folder = rt.settings.training_content_dir
        if folder is None or not folder.is_dir():
            raise JobFailed(
                "no_content_images",
                "the job names no content set and ATELIER_TRAINING_CONTENT_DIR is not a folder",
            )
        files = sorted(p for p in folder.iterdir() if has_image_suffix(p.name))
        photos = [(p.name, p.read_bytes()) for p in files]
        manifest["content_set"] = {"dir": str(folder)}
    if len(photos) < 2:
        raise JobFailed("no_content_images", f"{len(photos)} content image(s); at least 2 needed")
    # A fixed held-out slice (the first by name) scores the model; it is not trained on when
    # there are photos enough to spare.
    k = worker_parameter(params, "eval_images")
    held_out = len(photos) >= k + 2
    evaluation, training = (photos[:k], photos[k:]) if held_out else (photos[:k], photos)
    for folder_name, items in (("content", training), ("heldout", evaluation)):
        (tmp / folder_name).mkdir(parents=True)
        for name, data in items:
            (tmp / folder_name / name).write_bytes(data)
    manifest["heldout"] = {"images": [n for n, _ in evaluation], "held_out": held_out}
    (tmp / "data.json").write_text(json.dumps(manifest))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return manifest


def _preview_png(images: Any) -> bytes:
    """(2, N, 3, S, S) in [0, 1] -> one PNG: photos on the first row, results on the second."""
    from PIL import Image

    grid = images.clamp(0, 1).mul(255).round().byte()  # (2, N, 3, S, S)
    rows, n, _, size, _ = grid.shape
    sheet = Image.new("RGB", (n * size, rows * size))
    for r in range(rows):
        for c in range(n):
            tile = Image.fromarray(grid[r, c].permute(1, 2, 0).numpy())
            sheet.paste(tile, (c * size, r * size))
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()


def _model_path(rt: Runtime, model: ModelFile, dest: Path) -> Path:
    if not dest.exists():
        dest.write_bytes(rt.storage.get(model.sha256))
    return dest


def _evaluate(rt: Runtime, path: Path, contents: list[Any], styles: list[Any], size: int) -> Any:
    from models.evaluation import evaluate
    from models.inference import load_stylizer

    stylizer = load_stylizer(path, device=rt.settings.device)
    return stylizer, evaluate(stylizer, contents, styles, image_size=size, reference_steps=0)


def train_work(rt: Runtime, job: Job, progress: Progress) -> dict[str, Any]:
    """Train (or resume), evaluate against the baseline, register the model version."""
    import torch
    from PIL import Image

    from models.guards import TrainingDiverged
    from models.train import TrainConfig, TrainProgress, train

    with rt.sessions() as session:
        done = crud.get_model_by_training_job(session, job_id=job.id)
    if done is not None:  # registered by an earlier attempt that died before finishing the job
        return {"result_info": {"model_id": done.id, "gate": done.gate}}

    params = job.parameters
    root = rt.settings.training_path / job.id
    root.parent.mkdir(parents=True, exist_ok=True)
    manifest = prepare_data(rt, job, root)

    base: ModelFile | None = None
    baseline_id = params.get("base_model_id") or params.get("baseline_model_id")
    with rt.sessions() as session:
        baseline = crud.get_model(session, model_id=baseline_id) if baseline_id else None
        if params.get("base_model_id"):
            base = baseline
            if base is None:
                raise JobFailed("model_not_found", f"base model {baseline_id} is gone")
    base_path = _model_path(rt, base, root / "base.safetensors") if base is not None else None
    baseline_path = (
        _model_path(rt, baseline, root / "baseline.safetensors") if baseline is not None else None
    )
    encoder = (base.info.get("encoder") or {}).get("name") if base is not None else None
    config = TrainConfig(
        **train_config_kwargs(params),
        encoder=encoder or rt.settings.encoder,
        device=rt.settings.device,
    )
    steps = config.steps

    checkpoint = root / "checkpoint.pt"
    resumed_from = 0
    if checkpoint.exists():
        resumed_from = int(torch.load(checkpoint, map_location="cpu", weights_only=True)["step"])
        log.info("job %s: resuming from the checkpoint at step %d", job.id, resumed_from)
    info: dict[str, Any] = {
        **(job.progress_info or {}),
        "phase": "training",
        "step": resumed_from,
        "total": steps,
        "resumed_from_step": resumed_from,
        "checkpoint_step": resumed_from,
    }
    progress(TRAIN_SHARE * resumed_from / steps, dict(info), force=True)

    def on_progress(p: TrainProgress) -> None:
        saved = p.step if p.step == p.total else p.step - p.step % config.checkpoint_every
        info.update(
            step=p.step,
            total=p.total,
            losses={k: round(v, 5) for k, v in p.losses.items()},
            images_per_s=round(p.images_per_s, 2),
            eta_s=round(p.eta_s, 1),
            checkpoint_step=max(saved, resumed_from),
        )
        progress(TRAIN_SHARE * p.step / p.total, dict(info))

    def on_preview(step: int, images: torch.Tensor) -> None:
        info.update(preview_sha256=rt.storage.put(_preview_png(images)), preview_step=step)

    out = root / "model.safetensors"
    try:
        train(
            config,
            root / "content",
            root / "style",
            out,
            checkpoint=checkpoint,
            resume=checkpoint if checkpoint.exists() else None,
            init_model=base_path,
            progress=on_progress,
            preview=on_preview,
        )
    except JobCanceled:
        info.update(phase="canceled", checkpoint=str(checkpoint) if checkpoint.exists() else None)
        progress(TRAIN_SHARE * info["step"] / steps, dict(info), force=True)
        raise
    except TrainingDiverged as exc:
        raise JobFailed(exc.code, str(exc)) from exc

    # Evaluation on the fixed held-out photos and a fixed slice of the style set.
    info.update(phase="evaluating", eta_s=0.0)
    progress(TRAIN_SHARE, dict(info), force=True)
    contents = [Image.open(p).convert("RGB") for p in sorted((root / "heldout").iterdir())]
    style_files = sorted((root / "style").iterdir())
    styles = [Image.open(p).convert("RGB") for p in style_files[:MAX_EVAL_STYLES]]
    size = config.image_size
    stylizer, report = _evaluate(rt, out, contents, styles, size)
    progress(0.95, dict(info))
    evaluation: dict[str, Any] = {
        **vars(report.model),
        "pairs": report.pairs,
        "image_size": size,
        "heldout": manifest["heldout"],
        "style_images": len(styles),
        "notes": report.notes,
        "baseline": None,
    }
    if baseline_path is not None and baseline is not None:
        _, base_report = _evaluate(rt, baseline_path, contents, styles, size)
        evaluation["baseline"] = {"model_id": baseline.id, **vars(base_report.model)}
    gate = quality_gate(
        evaluation,
        evaluation["baseline"],
        content_margin=worker_parameter(params, "gate_content_margin"),
        baseline_id=baseline.id if baseline is not None else None,
    )
    sheet = io.BytesIO()
    report.sheet.save(sheet, format="PNG")

    data = out.read_bytes()
    model_info = read_model_metadata(data)
    key = rt.storage.put(data)
    sheet_key = rt.storage.put(sheet.getvalue())
    lineage = {
        "base_model": {"id": base.id, "name": base.name, "sha256": base.sha256}
        if base is not None
        else None,
        "style_set": manifest["style_set"],
        "content_set": manifest.get("content_set"),
        "parameters": config.to_dict(),
        "data_digests": model_info.get("data", {}),
        "code_version": code_version(),
        "training_job_id": job.id,
        "resumed_from_step": resumed_from,
    }
    with rt.sessions() as session:
        model = crud.get_model_by_training_job(session, job_id=job.id) or crud.create_model(
            session,
            name=str(params.get("name", "model")),
            sha256=key,
            size_bytes=len(data),
            info=model_info,
            training_job_id=job.id,
            base_model_id=base.id if base is not None else None,
            lineage=lineage,
            evaluation=evaluation,
            gate=gate,
            sheet_sha256=sheet_key,
        )
        style_set = crud.get_image_set(session, set_id=manifest["style_set"]["id"])
    if style_set is not None and style_set.digest == manifest["style_set"]["digest"]:
        # Precompute the set's statistics for the new model: stylizing with the set is then
        # one lookup away.
        def image(name: str) -> Image.Image:
            return Image.open(root / "style" / name).convert("RGB")

        style_set_stats(rt, stylizer, key, style_set, [p.name for p in style_files], image)
    shutil.rmtree(root, ignore_errors=True)
    return {
        "result_info": {
            "model_id": model.id,
            "gate": gate,
            "evaluation": {k: evaluation[k] for k in ("content", "style", "kid")},
            "resumed_from_step": resumed_from,
        }
    }
