"""Rows to response bodies, for the API and the worker's webhooks alike (no FastAPI here).

Progress percentage and ETA are derived here, not stored.
"""

from app.db import utcnow
from app.schemas import (
    ActivationPublic,
    CampaignPublic,
    ErrorInfo,
    ImageSetMemberPublic,
    ImageSetPublic,
    JobPublic,
    ModelPublic,
    StyleCreditPublic,
    StylePublic,
)
from app.tables import (
    FINISHED,
    Campaign,
    ImageSet,
    ImageSetMember,
    Job,
    JobKind,
    JobStatus,
    ModelActivation,
    ModelFile,
    StoredImage,
    Style,
)


def job_public(job: Job) -> JobPublic:
    eta: float | None = None
    info = job.progress_info or {}
    if job.status == JobStatus.running and "eta_s" in info:
        # Training reports its own: elapsed time misleads after a resume from a checkpoint.
        eta = round(float(info["eta_s"]), 1)
    elif job.status == JobStatus.running and job.started_at is not None and job.progress > 0:
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
        style_set_id=job.style_set_id,
        model_id=job.model_id,
        progress_info=info,
        preview_url=f"/v1/admin/trainings/{job.id}/preview"
        if job.kind == JobKind.train and info.get("preview_sha256")
        else None,
        result_url=f"/v1/jobs/{job.id}/result" if job.status == JobStatus.succeeded else None,
        poster_url=f"/v1/jobs/{job.id}/poster"
        if job.status == JobStatus.succeeded and (job.result_info or {}).get("poster_sha256")
        else None,
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
        builtin=style.is_builtin,
        credit=StyleCreditPublic(
            title=style.title,
            artist=style.artist,
            source_url=style.source_url,
            licence=style.licence,
            declared_by="service" if style.is_builtin else "uploader",
        ),
        info=style.info or {},
        created_at=style.created_at,
    )


def model_public(model: ModelFile) -> ModelPublic:
    return ModelPublic(
        id=model.id,
        name=model.name,
        sha256=model.sha256,
        size_bytes=model.size_bytes,
        is_active=model.is_active,
        builtin=model.is_builtin,
        info=model.info,
        created_at=model.created_at,
        training_job_id=model.training_job_id,
        base_model_id=model.base_model_id,
        lineage=model.lineage or {},
        evaluation=model.evaluation or {},
        gate=model.gate or {},
        contact_sheet_url=f"/v1/models/{model.id}/contact-sheet" if model.sheet_sha256 else None,
    )


def activation_public(row: ModelActivation) -> ActivationPublic:
    return ActivationPublic(
        id=row.id,
        action=row.action,
        model_id=row.model_id,
        previous_model_id=row.previous_model_id,
        forced=row.forced,
        reason=row.reason,
        created_at=row.created_at,
    )


def image_set_public(
    image_set: ImageSet, members: list[ImageSetMember], images: dict[str, StoredImage]
) -> ImageSetPublic:
    base = f"/v1/{image_set.kind}-sets/{image_set.id}/images"
    return ImageSetPublic(
        id=image_set.id,
        kind=image_set.kind,
        name=image_set.name,
        digest=image_set.digest,
        image_count=len(members),
        images=[
            ImageSetMemberPublic(
                id=m.id,
                filename=m.filename,
                sha256=m.image_sha256,
                width=images[m.image_sha256].width,
                height=images[m.image_sha256].height,
                phash=m.phash,
                image_url=f"{base}/{m.id}",
                thumbnail_url=f"{base}/{m.id}/thumbnail",
            )
            for m in members
        ],
        checks=image_set.checks or [],
        created_at=image_set.created_at,
        updated_at=image_set.updated_at,
    )


def campaign_public(campaign: Campaign, children: list[Job]) -> CampaignPublic:
    counts = {status.value: 0 for status in JobStatus}
    for job in children:
        counts[job.status.value] += 1
    if all(job.status in FINISHED for job in children):
        status = (
            JobStatus.failed
            if counts["failed"]
            else JobStatus.canceled
            if counts["canceled"]
            else JobStatus.succeeded
        )
    else:
        status = JobStatus.queued if counts["queued"] == len(children) else JobStatus.running
    progress = sum(1.0 if j.status in FINISHED else j.progress for j in children) / max(
        1, len(children)
    )
    return CampaignPublic(
        id=campaign.id,
        name=campaign.name,
        status=status,
        progress=round(progress, 4),
        percent=int(progress * 100),
        total=campaign.total,
        counts=counts,
        parameters=campaign.parameters,
        children=[job_public(job) for job in children],
        archive_url=f"/v1/campaigns/{campaign.id}/archive",
        created_at=campaign.created_at,
        finished_at=campaign.finished_at,
        webhook_status=campaign.webhook_status,
    )
