"""Ad campaigns: a campaign, its photos and a child job per (photo, style) pair, stored together;
read, canceled, and ended exactly once when no child is left to run.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.crud.ids import new_id
from app.crud.images import _add_clean_image
from app.crud.jobs import _link_region_masks, _new_job
from app.db import utcnow
from app.images import CleanImage
from app.storage import Storage
from app.tables import FINISHED, ApiKey, Campaign, Job, JobKind, JobStatus


def create_campaign(
    session: Session,
    *,
    storage: Storage,
    owner: ApiKey,
    name: str,
    parameters: dict[str, Any],
    photos: list[CleanImage],
    saved_styles: list[tuple[str, str]],
    uploaded_styles: list[CleanImage],
    children: list[dict[str, Any]],
    idempotency_key: str | None,
    webhook_url: str | None,
    region_masks: Sequence[CleanImage] = (),
) -> Campaign:
    """A campaign, its photos and a child job per (photo, style) pair, in one transaction.

    The styles are the saved ones, (image sha256, style id), then the uploaded ones;
    `children[i]` are the parameters of the i-th pair,
    photo-major (`campaign_photo`, `campaign_style` name them); a child's styled `regions` that
    name a `mask` index record that one of `region_masks`' sha256. A concurrent request with the
    same Idempotency-Key that won the race gives its campaign instead."""
    campaign = Campaign(
        id=new_id(),
        owner_id=owner.id,
        name=name,
        idempotency_key=idempotency_key,
        parameters=parameters,
        total=len(children),
        webhook_url=webhook_url,
        webhook_status="pending" if webhook_url else None,
        webhook_attempts=0,
    )
    session.add(campaign)
    keys = [_add_clean_image(session, storage=storage, image=p).sha256 for p in photos]
    styles: list[tuple[str, str | None]] = [*saved_styles]
    for image in uploaded_styles:
        styles.append((_add_clean_image(session, storage=storage, image=image).sha256, None))
    masks = [_add_clean_image(session, storage=storage, image=m).sha256 for m in region_masks]
    for child in children:
        if child.get("regions"):
            child["regions"] = _link_region_masks(child["regions"], masks)
        style_sha256, style_id = styles[child["campaign_style"]]
        session.add(
            _new_job(
                kind=JobKind.stylize,
                owner=owner,
                parameters=child,
                content_sha256=keys[child["campaign_photo"]],
                style_sha256=style_sha256,
                style_id=style_id,
                model_id=child.pop("model_id", None),
                campaign_id=campaign.id,
            )
        )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = get_campaign_by_idempotency_key(session, owner=owner, key=idempotency_key or "")
        if existing is None:
            raise
        return existing
    return campaign


def get_campaign(session: Session, *, campaign_id: str, viewer: ApiKey) -> Campaign | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or (not viewer.is_admin and campaign.owner_id != viewer.id):
        return None
    return campaign


def get_campaign_by_idempotency_key(
    session: Session, *, owner: ApiKey, key: str
) -> Campaign | None:
    return session.scalar(
        select(Campaign).where(Campaign.owner_id == owner.id, Campaign.idempotency_key == key)
    )


def campaign_children(session: Session, *, campaign_id: str) -> list[Job]:
    """The child jobs, photo by photo, style by style (the order they were submitted in)."""
    jobs = session.scalars(select(Job).where(Job.campaign_id == campaign_id))
    return sorted(
        jobs, key=lambda j: (j.parameters["campaign_photo"], j.parameters["campaign_style"])
    )


def cancel_campaign(session: Session, *, campaign: Campaign) -> list[Job]:
    """Cancel every unfinished child (as `request_cancel` does one job); returns the children."""
    now = utcnow()
    session.execute(
        update(Job)
        .where(Job.campaign_id == campaign.id, Job.status == JobStatus.queued)
        .values(status=JobStatus.canceled, finished_at=now, cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Job)
        .where(Job.campaign_id == campaign.id, Job.status == JobStatus.running)
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.expire_all()
    return campaign_children(session, campaign_id=campaign.id)


def finish_campaign_if_done(session: Session, *, campaign_id: str) -> Campaign | None:
    """Mark the campaign finished once no child is queued or running: exactly one caller (the
    worker that finished the last child, or a cancel) gets the campaign back, to send its one
    webhook; everyone else gets None."""
    unfinished = (
        select(Job.id).where(Job.campaign_id == campaign_id, Job.status.not_in(FINISHED)).exists()
    )
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.finished_at.is_(None), ~unfinished)
        .values(finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(Campaign, campaign_id, populate_existing=True)


def finish_ended_campaigns(session: Session) -> list[Campaign]:
    """End every campaign whose children have all finished but that nobody ended: a child the
    reaper failed or canceled (no worker finishes it), or a worker killed between finishing the
    last child and ending the campaign. Each is ended by `finish_campaign_if_done`, so a
    campaign a worker ends at the same moment is still ended (and its webhook sent) once."""
    unfinished = select(Job.id).where(Job.campaign_id == Campaign.id, Job.status.not_in(FINISHED))
    ended = session.scalars(
        select(Campaign.id).where(Campaign.finished_at.is_(None), ~unfinished.exists())
    ).all()
    done = [finish_campaign_if_done(session, campaign_id=campaign_id) for campaign_id in ended]
    return [campaign for campaign in done if campaign is not None]
