"""The training job: style set (+ content set or folder) -> fine-tuned model version, evaluated,
gated against its baseline, and registered with its lineage, in three steps: prepare, train,
evaluate and register (`worker.registry`).

Everything a run needs lives in `ATELIER_TRAINING_DIR/<job id>/`: the data as written once
(`worker.training_data`), the base model, the checkpoint (every `checkpoint_every` steps) and
the output. Each new checkpoint is also copied to storage (`progress_info.checkpoint_sha256`,
the previous copy deleted). A job whose worker died is re-queued by the reaper; the next worker,
on this host or another (S3 storage), finds the checkpoint in the folder or fetches it from
storage and resumes (models.train resumes bit-for-bit), so the step does not restart from 0.
A canceled job keeps its folder and checkpoint; a succeeded one's folder and stored checkpoint
are removed once its model is in storage.
"""

import io
import logging
import shutil
from typing import Any

from app import crud
from app.tables import Job, JobStatus
from contracts.training import train_config_kwargs
from worker.jobs import JobCanceled, JobFailed, Progress, run_job
from worker.registry import evaluate_and_register
from worker.runtime import Runtime
from worker.training_data import TRAIN_SHARE, TrainingRun, prepare_data

log = logging.getLogger("atelier.worker.training")


def prepare(rt: Runtime, job: Job) -> TrainingRun:
    """Write the data, find the base and baseline models, build the trainer's config."""
    from models.train import TrainConfig

    params = job.parameters
    root = rt.settings.training_path / job.id
    root.parent.mkdir(parents=True, exist_ok=True)
    manifest = prepare_data(rt, job, root)
    base_id = params.get("base_model_id")
    baseline_id = base_id or params.get("baseline_model_id")
    with rt.sessions() as session:
        baseline = crud.get_model(session, model_id=baseline_id) if baseline_id else None
    if base_id and baseline is None:
        raise JobFailed("model_not_found", f"base model {base_id} is gone")
    base = baseline if base_id else None
    encoder = (base.info.get("encoder") or {}).get("name") if base is not None else None
    config = TrainConfig(
        **train_config_kwargs(params),
        encoder=encoder or rt.settings.encoder,
        device=rt.settings.device,
    )
    return TrainingRun(job, root, manifest, config, base, baseline)


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


def keep_checkpoint(rt: Runtime, run: TrainingRun) -> None:
    """Copy the run's new checkpoint to storage (replacing the previous one there), so that a
    worker on another host can resume the job from it."""
    previous = run.info.get("checkpoint_sha256")
    run.info["checkpoint_sha256"] = rt.storage.put(run.checkpoint.read_bytes())
    if previous and previous != run.info["checkpoint_sha256"]:
        rt.storage.delete(previous)


def fetch_checkpoint(rt: Runtime, run: TrainingRun) -> None:
    """A checkpoint an earlier attempt (maybe on another host) kept in storage, into the run's
    folder; none, or gone: the run starts from step 0."""
    key = run.info.get("checkpoint_sha256")
    if not key:
        return
    try:
        with rt.storage.local_path(key) as path:
            shutil.copyfile(path, run.checkpoint)
        log.info("job %s: checkpoint fetched from storage", run.job.id)
    except FileNotFoundError:
        log.warning("job %s: its stored checkpoint %s is gone: starting over", run.job.id, key)


def run_trainer(rt: Runtime, run: TrainingRun, progress: Progress) -> None:
    """Train (or resume from the run's checkpoint), reporting the trainer's progress: step,
    losses, speed, ETA, the step of its last checkpoint and the step it resumed from."""
    from models.guards import TrainingDiverged
    from models.train import TrainProgress, train

    steps = run.config.steps
    info = run.info
    info.update(phase="training", total=steps)
    progress(TRAIN_SHARE * info.get("step", 0) / steps, dict(info), force=True)

    def on_progress(p: TrainProgress) -> None:
        if p.checkpoint_step and p.checkpoint_step != info.get("checkpoint_step"):
            keep_checkpoint(rt, run)  # before it is reported: the stored one is never behind
        info.update(
            step=p.step,
            total=p.total,
            losses={k: round(v, 5) for k, v in p.losses.items()},
            images_per_s=round(p.images_per_s, 2),
            eta_s=round(p.eta_s, 1),
            checkpoint_step=p.checkpoint_step,
            resumed_from_step=p.resumed_from,
        )
        progress(TRAIN_SHARE * p.step / p.total, dict(info))

    def on_preview(step: int, images: Any) -> None:
        info.update(preview_sha256=rt.storage.put(_preview_png(images)), preview_step=step)

    if not run.checkpoint.exists():
        fetch_checkpoint(rt, run)
    resume = run.checkpoint if run.checkpoint.exists() else None
    if resume is not None:
        log.info("job %s: resuming from its checkpoint", run.job.id)
    try:
        train(
            run.config,
            run.root / "content",
            run.root / "style",
            run.out,
            checkpoint=run.checkpoint,
            resume=resume,
            init_model=run.model_path(rt, run.base, "base") if run.base is not None else None,
            progress=on_progress,
            preview=on_preview,
        )
    except JobCanceled:
        kept = str(run.checkpoint) if run.checkpoint.exists() else None
        info.update(phase="canceled", checkpoint=kept)
        progress(TRAIN_SHARE * info.get("step", 0) / steps, dict(info), force=True)
        raise
    except TrainingDiverged as exc:
        raise JobFailed(exc.code, str(exc)) from exc


def train_work(rt: Runtime, job: Job, progress: Progress) -> dict[str, Any]:
    """Prepare, train (or resume), evaluate against the baseline and register the model."""
    with rt.sessions() as session:
        done = crud.get_model_by_training_job(session, job_id=job.id)
    if done is not None:  # registered by an earlier attempt that died before finishing the job
        return {"result_info": {"model_id": done.id, "gate": done.gate}}
    run = prepare(rt, job)
    run.info.update(job.progress_info or {})
    run_trainer(rt, run, progress)
    result_info = evaluate_and_register(rt, run, progress)
    shutil.rmtree(run.root, ignore_errors=True)
    if run.info.get("checkpoint_sha256"):  # the model is registered: no resume needed any more
        rt.storage.delete(run.info["checkpoint_sha256"])
    return {"result_info": result_info}


def run_train(rt: Runtime, job_id: str) -> JobStatus | None:
    return run_job(rt, job_id, train_work)
