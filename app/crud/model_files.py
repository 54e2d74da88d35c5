"""Model files and their registry: registered (uploaded, trained or built in), listed, activated
and rolled back along the activation log. Named after the table (`ModelFile`) so that it does not
read as the GAN package `models`, which the API never imports.
"""

from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.crud.ids import new_id
from app.storage import Storage, sha256_hex
from app.tables import ApiKey, ExportedGraph, ModelActivation, ModelFile
from contracts.modelfile import ModelFileError, read_model_metadata


def create_model(
    session: Session,
    *,
    name: str,
    sha256: str,
    size_bytes: int,
    info: dict[str, Any],
    **registry: Any,
) -> ModelFile:
    """Register a model file; `registry` holds a trained model's lineage, evaluation and gate."""
    row = ModelFile(
        id=new_id(),
        name=name,
        sha256=sha256,
        size_bytes=size_bytes,
        info=info,
        lineage=registry.pop("lineage", {}),
        evaluation=registry.pop("evaluation", {}),
        gate=registry.pop("gate", {}),
        **registry,
    )
    row.is_active = False
    session.add(row)
    session.commit()
    return row


def register_trained_model(
    session: Session, *, training_job_id: str, name: str, sha256: str, **fields: Any
) -> ModelFile:
    """The model a training job registered: the one already there (an earlier attempt that died
    after registering), else a new one."""
    existing = get_model_by_training_job(session, job_id=training_job_id)
    if existing is not None:
        return existing
    return create_model(
        session, name=name, sha256=sha256, training_job_id=training_job_id, **fields
    )


def register_builtin_model(session: Session, *, storage: Storage, path: Path | None) -> str:
    """Register the built-in model file (`path`, None: disabled) and say what was done, in one
    line for the start-up log. Idempotent: a file already registered (by sha256) is not added
    again. It is activated only on a registry nobody has chosen for: no activation ever logged,
    and no model active other than an earlier built-in (so a new shipped version replaces the
    old one until an admin decides); an admin's activation or rollback is never overridden."""
    if path is None:
        return "built-in model: disabled (ATELIER_BUILTIN_MODEL is empty)"
    if not path.is_file():
        return f"built-in model: no file at {path}; jobs need an uploaded or trained model"
    data = path.read_bytes()
    try:
        info = read_model_metadata(data)
    except ModelFileError as exc:
        return f"built-in model: {path} is not a usable model file ({exc}); not registered"
    sha256 = sha256_hex(data)
    model = session.scalar(select(ModelFile).where(ModelFile.sha256 == sha256).limit(1))
    done = f"already registered as {model.id}" if model is not None else ""
    if model is None:
        evaluation = info.get("evaluation")
        model = create_model(
            session,
            name=str(info.get("name") or path.stem),
            sha256=storage.put(data),
            size_bytes=len(data),
            info=info,
            evaluation=evaluation if isinstance(evaluation, dict) else {},
            is_builtin=True,
        )
        done = f"registered {path.name} as {model.id}"
    chosen = session.scalar(select(func.count()).select_from(ModelActivation))
    active = get_active_model(session)
    if not chosen and (active is None or (active.is_builtin and active.id != model.id)):
        activate_model(session, model=model)
        done += ", activated"
    return f"built-in model: {done} (sha256 {sha256[:12]})"


def list_models(session: Session) -> list[ModelFile]:
    return list(session.scalars(select(ModelFile).order_by(ModelFile.created_at.desc())))


def get_model(session: Session, *, model_id: str) -> ModelFile | None:
    return session.get(ModelFile, model_id)


def get_active_model(session: Session) -> ModelFile | None:
    return session.scalar(select(ModelFile).where(ModelFile.is_active))


def get_model_by_training_job(session: Session, *, job_id: str) -> ModelFile | None:
    return session.scalar(select(ModelFile).where(ModelFile.training_job_id == job_id))


def activate_model(
    session: Session,
    *,
    model: ModelFile | None,
    actor: ApiKey | None = None,
    action: str = "activate",
    forced: bool = False,
    reason: str | None = None,
) -> ModelFile | None:
    """Make `model` the only active one (None: none, the optimisation method), in one
    transaction, and log it (with the previously active model, which rollback returns to)."""
    previous = get_active_model(session)
    target = model.id if model is not None else None
    others = (
        update(ModelFile) if target is None else update(ModelFile).where(ModelFile.id != target)
    )
    session.execute(others.values(is_active=False))
    if target is not None:
        session.execute(update(ModelFile).where(ModelFile.id == target).values(is_active=True))
    if actor is not None:
        session.add(
            ModelActivation(
                action=action,
                model_id=target,
                previous_model_id=previous.id if previous is not None else None,
                forced=forced,
                reason=reason,
                key_id=actor.id,
            )
        )
    session.commit()
    if model is not None:
        session.refresh(model)
    return model


def rollback_target(session: Session) -> tuple[bool, str | None]:
    """(found, model id) that was active before the current one: walks the activation log back
    from the entry that made the current model (or the optimisation method) active."""
    current = get_active_model(session)
    current_id = current.id if current is not None else None
    entry = session.scalar(
        select(ModelActivation)
        .where(
            ModelActivation.model_id.is_(None)
            if current_id is None
            else ModelActivation.model_id == current_id
        )
        .where(ModelActivation.action == "activate")
        .order_by(ModelActivation.id.desc())
        .limit(1)
    )
    if entry is None:
        return False, None
    return True, entry.previous_model_id


def list_activations(session: Session, *, limit: int = 50) -> list[ModelActivation]:
    return list(
        session.scalars(select(ModelActivation).order_by(ModelActivation.id.desc()).limit(limit))
    )


def get_exported_graph(session: Session, *, key: str) -> ExportedGraph | None:
    return session.get(ExportedGraph, key)


def save_exported_graph(session: Session, *, key: str, graph_sha256: str) -> None:
    """Record a model's exported graphs; a concurrent worker that recorded them first wins
    (the same key holds graphs exported from the same file by the same exporter)."""
    session.add(ExportedGraph(key=key, graph_sha256=graph_sha256))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
