"""A trained model's evaluation, quality gate and registration: the training job's last step.

The gate is plain arithmetic on two evaluations. A candidate passes when, on the same held-out
pairs, its style score is lower (better) than the baseline's and its content score is at most
`content_margin` (a fraction) higher (worse). Without a baseline (trained from scratch with no
model active) there is nothing to compare: the gate fails with `no_baseline`, and an admin must
force activation with a reason after looking at the contact sheet.

The model is scored on the run's fixed held-out photos and a fixed slice of its style set
(sorted by digest), and registered with its lineage: base model, sets and their digests,
training parameters, data digests, code version.
"""

import importlib.metadata
import io
import subprocess
from pathlib import Path
from typing import Any

from app import crud
from contracts.modelfile import read_model_metadata
from contracts.training import worker_parameter
from worker.jobs import Progress
from worker.runtime import Runtime
from worker.stylization import style_set_stats
from worker.training_data import TRAIN_SHARE, TrainingRun

MAX_EVAL_STYLES = 8  # a fixed slice of the style set for the metrics
REPO = Path(__file__).resolve().parents[1]


def quality_gate(
    candidate: dict[str, float],
    baseline: dict[str, float] | None,
    *,
    content_margin: float,
    baseline_id: str | None,
) -> dict[str, Any]:
    if baseline is None:
        return {
            "passed": False,
            "baseline_model_id": None,
            "content_margin": content_margin,
            "failures": [{"code": "no_baseline", "message": "no base or active model to compare"}],
        }
    failures = []
    if not candidate["style"] < baseline["style"]:
        failures.append(
            {
                "code": "style_not_better",
                "message": f"style score {candidate['style']:.4g} is not below the baseline's "
                f"{baseline['style']:.4g}",
            }
        )
    limit = baseline["content"] * (1 + content_margin)
    if not candidate["content"] <= limit:
        failures.append(
            {
                "code": "content_worse",
                "message": f"content score {candidate['content']:.4g} exceeds the baseline's "
                f"{baseline['content']:.4g} by more than {content_margin:.0%}",
            }
        )
    return {
        "passed": not failures,
        "baseline_model_id": baseline_id,
        "content_margin": content_margin,
        "failures": failures,
    }


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


def _score(rt: Runtime, path: Path, contents: list[Any], styles: list[Any], size: int) -> Any:
    from models.evaluation import evaluate
    from models.inference import load_stylizer

    stylizer = load_stylizer(path, device=rt.settings.device)
    return stylizer, evaluate(stylizer, contents, styles, image_size=size, reference_steps=0)


def evaluate(rt: Runtime, run: TrainingRun, progress: Progress) -> tuple[Any, dict[str, Any], Any]:
    """(stylizer, evaluation, report): the trained model scored on the held-out photos, and the
    baseline's scores on the same pairs."""
    from PIL import Image

    run.info.update(phase="evaluating", eta_s=0.0)
    progress(TRAIN_SHARE, dict(run.info), force=True)
    contents = [Image.open(p).convert("RGB") for p in sorted((run.root / "heldout").iterdir())]
    style_files = sorted((run.root / "style").iterdir())[:MAX_EVAL_STYLES]
    styles = [Image.open(p).convert("RGB") for p in style_files]
    size = run.config.image_size
    stylizer, report = _score(rt, run.out, contents, styles, size)
    progress(0.95, dict(run.info))
    evaluation: dict[str, Any] = {
        **vars(report.model),
        "pairs": report.pairs,
        "image_size": size,
        "heldout": run.manifest["heldout"],
        "style_images": len(styles),
        "notes": report.notes,
        "baseline": None,
    }
    if run.baseline is not None:
        baseline_path = run.model_path(rt, run.baseline, "baseline")
        _, base_report = _score(rt, baseline_path, contents, styles, size)
        evaluation["baseline"] = {"model_id": run.baseline.id, **vars(base_report.model)}
    return stylizer, evaluation, report


def _lineage(run: TrainingRun, model_info: dict[str, Any]) -> dict[str, Any]:
    base = run.base
    return {
        "base_model": {"id": base.id, "name": base.name, "sha256": base.sha256}
        if base is not None
        else None,
        "style_set": run.manifest["style_set"],
        "content_set": run.manifest.get("content_set"),
        "parameters": run.config.to_dict(),
        "data_digests": model_info.get("data", {}),
        "code_version": code_version(),
        "training_job_id": run.job.id,
        "resumed_from_step": run.info.get("resumed_from_step", 0),
    }


def evaluate_and_register(rt: Runtime, run: TrainingRun, progress: Progress) -> dict[str, Any]:
    """Score the trained model, judge it with the gate, register it; returns the job's result."""
    from PIL import Image

    stylizer, evaluation, report = evaluate(rt, run, progress)
    params = run.job.parameters
    gate = quality_gate(
        evaluation,
        evaluation["baseline"],
        content_margin=worker_parameter(params, "gate_content_margin"),
        baseline_id=run.baseline.id if run.baseline is not None else None,
    )
    sheet = io.BytesIO()
    report.sheet.save(sheet, format="PNG")
    data = run.out.read_bytes()
    model_info = read_model_metadata(data)
    key = rt.storage.put(data)
    with rt.sessions() as session:
        model = crud.register_trained_model(
            session,
            training_job_id=run.job.id,
            name=str(params.get("name", "model")),
            sha256=key,
            size_bytes=len(data),
            info=model_info,
            base_model_id=run.base.id if run.base is not None else None,
            lineage=_lineage(run, model_info),
            evaluation=evaluation,
            gate=gate,
            sheet_sha256=rt.storage.put(sheet.getvalue()),
        )
        style_set = crud.get_image_set(session, set_id=run.manifest["style_set"]["id"])
    if style_set is not None and style_set.digest == run.manifest["style_set"]["digest"]:
        # Precompute the set's statistics for the new model: stylizing with the set is then
        # one lookup away.
        def image(name: str) -> Image.Image:
            return Image.open(run.root / "style" / name).convert("RGB")

        names = sorted(p.name for p in (run.root / "style").iterdir())
        style_set_stats(rt, stylizer, key, style_set, names, image)
    return {
        "model_id": model.id,
        "gate": gate,
        "evaluation": {k: evaluation[k] for k in ("content", "style", "kid")},
        "resumed_from_step": run.info.get("resumed_from_step", 0),
    }
