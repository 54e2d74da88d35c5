"""A training job's data, written once into its folder: the style set's paintings, the content
photos (a content set, or the worker's ATELIER_TRAINING_CONTENT_DIR) split into training and
held-out photos, and `data.json`, the manifest that the model's lineage records.

A set that changed after the job was submitted is refused (`style_set_changed`,
`content_set_changed`) rather than trained on as it is now: the job's recorded digest names the
data the admin chose, and a model must not claim data it was not trained on. Submit the job
again to train on the set as it is. A resumed job reuses the data it wrote, whatever the set
became since.
"""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app import crud
from app.tables import Job, ModelFile
from contracts.images import has_image_suffix
from contracts.training import worker_parameter
from worker.jobs import JobFailed
from worker.runtime import Runtime

MIN_PHOTOS = 2
TRAIN_SHARE = 0.9  # of the job's progress bar; evaluation and registration take the rest


@dataclass
class TrainingRun:
    """One attempt at a training job: its folder, data manifest, config and models."""

    job: Job
    root: Path
    manifest: dict[str, Any]
    config: Any  # models.train.TrainConfig
    base: ModelFile | None  # fine-tuned from
    baseline: ModelFile | None  # compared with by the gate (the base, else the active model)
    info: dict[str, Any] = field(default_factory=dict)  # the job's progress_info

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    @property
    def out(self) -> Path:
        return self.root / "model.safetensors"

    def model_path(self, rt: Runtime, model: ModelFile, name: str) -> Path:
        """A registered model's file in the run's folder (written once)."""
        dest = self.root / f"{name}.safetensors"
        if not dest.exists():
            dest.write_bytes(rt.storage.get(model.sha256))
        return dest


def _set_keys(session: Session, params: dict[str, Any], kind: str) -> tuple[dict[str, Any], list]:
    """The named set's manifest entry and image keys (sorted), if it is as it was submitted."""
    set_id = params[f"{kind}_set_id"]
    image_set = crud.get_image_set(session, set_id=set_id, kind=kind)
    if image_set is None:
        raise JobFailed(f"{kind}_set_not_found", f"{kind} set {set_id} is gone")
    recorded = params.get(f"{kind}_set_digest")
    if recorded is not None and image_set.digest != recorded:
        raise JobFailed(
            f"{kind}_set_changed",
            f"{kind} set {set_id} changed after the job was submitted; submit it again to "
            "train on the set as it is now",
        )
    keys = sorted(m.image_sha256 for m in crud.set_members(session, set_id=image_set.id))
    return {"id": image_set.id, "name": image_set.name, "digest": image_set.digest}, keys


def _folder_photos(rt: Runtime) -> list[tuple[str, bytes]]:
    folder = rt.settings.training_content_dir
    if folder is None or not folder.is_dir():
        raise JobFailed(
            "no_content_images",
            "the job names no content set and ATELIER_TRAINING_CONTENT_DIR is not a folder",
        )
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if has_image_suffix(p.name)]


def _write(folder: Path, items: list[tuple[str, bytes]]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in items:
        (folder / name).write_bytes(data)
    return [name for name, _ in items]


def _stored(rt: Runtime, keys: list[str]) -> list[tuple[str, bytes]]:
    return [(f"{i:04d}-{key[:12]}.png", rt.storage.get(key)) for i, key in enumerate(keys)]


def prepare_data(rt: Runtime, job: Job, root: Path) -> dict[str, Any]:
    """Write the job's data once (a resumed run reuses it as it was); returns the manifest."""
    manifest_path = root / "data.json"
    if manifest_path.exists():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        return manifest
    params = job.parameters
    with rt.sessions() as session:
        manifest = {}
        manifest["style_set"], style_keys = _set_keys(session, params, "style")
        content_keys: list[str] = []
        if params.get("content_set_id"):
            manifest["content_set"], content_keys = _set_keys(session, params, "content")
    if content_keys:
        photos = _stored(rt, content_keys)
    else:
        photos = _folder_photos(rt)
        manifest["content_set"] = {"dir": str(rt.settings.training_content_dir)}
    if len(photos) < MIN_PHOTOS:
        raise JobFailed(
            "no_content_images", f"{len(photos)} content image(s); at least {MIN_PHOTOS} needed"
        )
    # A fixed held-out slice (the first by name) scores the model; it is not trained on when
    # there are photos enough to spare.
    k = worker_parameter(params, "eval_images")
    held_out = len(photos) >= k + MIN_PHOTOS
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    _write(tmp / "style", _stored(rt, style_keys))
    _write(tmp / "content", photos[k:] if held_out else photos)
    manifest["heldout"] = {"images": _write(tmp / "heldout", photos[:k]), "held_out": held_out}
    (tmp / "data.json").write_text(json.dumps(manifest))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return manifest
