"""Rows to response bodies (progress percentage and ETA are derived here, not stored)."""

from app.db import utcnow
from app.schemas import ErrorInfo, JobPublic, ModelPublic, StylePublic
from app.tables import Job, JobStatus, ModelFile, StoredImage, Style


def job_public(job: Job) -> JobPublic:
    eta: float | None = None
    if job.status == JobStatus.running and job.started_at is not None and job.progress > 0:
        elapsed = (utcnow() - job.started_at).total_seconds()
        eta = round(max(0.0, elapsed * (1.0 - job.progress) / job.progress), 1)
    return JobPublic(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=round(job.progress, 4),
        percent=int(job.progress * 100),
        eta_seconds=eta,
        attempts=job.attempts,
        parameters=job.parameters,
        style_id=job.style_id,
        model_id=job.model_id,
        result_url=f"/v1/jobs/{job.id}/result" if job.status == JobStatus.succeeded else None,
        result_info=job.result_info or {},
        error=ErrorInfo(code=job.error_code, message=job.error_message or "")
        if job.error_code
        else None,
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        webhook_status=job.webhook_status,
    )


def style_public(style: Style, image: StoredImage) -> StylePublic:
    return StylePublic(
        id=style.id,
        name=style.name,
        width=image.width,
        height=image.height,
        image_url=f"/v1/styles/{style.id}/image",
        created_at=style.created_at,
    )


def model_public(model: ModelFile) -> ModelPublic:
    return ModelPublic(
        id=model.id,
        name=model.name,
        sha256=model.sha256,
        size_bytes=model.size_bytes,
        is_active=model.is_active,
        info=model.info,
        created_at=model.created_at,
    )
