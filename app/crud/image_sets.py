"""Image sets (style sets and content sets): their members with thumbnails, the data checks and
digest recomputed in the same transaction as every change, and a set's computed statistics.
"""

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.crud.ids import new_id
from app.crud.images import _add_clean_image, _add_image, require_image
from app.db import utcnow
from app.imagesets import Member, SetImage, data_checks, set_digest
from app.storage import Storage
from app.tables import ApiKey, ImageSet, ImageSetMember, StyleSetStats


def create_image_set(
    session: Session,
    *,
    storage: Storage,
    kind: str,
    name: str,
    owner: ApiKey,
    images: list[SetImage],
    findings: list[dict[str, Any]],
    crop: int,
) -> ImageSet:
    """A new set with its images, data checks and digest, in one transaction."""
    row = ImageSet(id=new_id(), kind=kind, name=name, owner_id=owner.id, checks=[], digest="")
    session.add(row)
    session.flush()
    _add_set_images(session, storage=storage, image_set=row, images=images)
    _refresh_set(session, image_set=row, findings=findings, crop=crop)
    session.commit()
    return row


def add_set_images(
    session: Session,
    *,
    storage: Storage,
    image_set: ImageSet,
    images: list[SetImage],
    findings: list[dict[str, Any]],
    crop: int,
) -> None:
    """Add images to a set and recompute its checks and digest, in one transaction."""
    _add_set_images(session, storage=storage, image_set=image_set, images=images)
    _refresh_set(session, image_set=image_set, findings=findings, crop=crop)
    session.commit()


def remove_set_member(
    session: Session, *, image_set: ImageSet, member: ImageSetMember, crop: int
) -> None:
    """Remove one image from a set and recompute its checks and digest, in one transaction."""
    session.delete(member)
    session.flush()
    _refresh_set(session, image_set=image_set, findings=[], crop=crop)
    session.commit()


def _add_set_images(
    session: Session, *, storage: Storage, image_set: ImageSet, images: list[SetImage]
) -> None:
    for image in images:
        _add_clean_image(session, storage=storage, image=image.clean)
        data, width, height = image.thumb
        thumb = _add_image(
            session,
            storage=storage,
            data=data,
            width=width,
            height=height,
            content_type="image/png",
        )
        session.add(
            ImageSetMember(
                id=new_id(),
                set_id=image_set.id,
                image_sha256=image.sha256,
                thumb_sha256=thumb.sha256,
                filename=image.filename,
                phash=image.phash,
            )
        )
    session.flush()


def _refresh_set(
    session: Session, *, image_set: ImageSet, findings: list[dict[str, Any]], crop: int
) -> None:
    """Recompute the set's digest and data checks from its members (`findings`: the upload's)."""
    members = set_members(session, set_id=image_set.id)
    checked = []
    for m in members:
        image = require_image(session, sha256=m.image_sha256)
        checked.append(Member(m.id, m.filename, m.image_sha256, image.width, image.height, m.phash))
    image_set.checks = findings + data_checks(checked, crop=crop)
    image_set.digest = set_digest([m.image_sha256 for m in members])
    image_set.updated_at = utcnow()


def set_members(session: Session, *, set_id: str) -> list[ImageSetMember]:
    return list(
        session.scalars(
            select(ImageSetMember)
            .where(ImageSetMember.set_id == set_id)
            .order_by(ImageSetMember.created_at, ImageSetMember.id)
        )
    )


def get_set_member(session: Session, *, member_id: str) -> ImageSetMember | None:
    return session.get(ImageSetMember, member_id)


def get_style_set_member(session: Session, *, member_id: str) -> ImageSetMember | None:
    """One painting of a style set (content-set photos are not styles)."""
    return session.scalars(
        select(ImageSetMember)
        .join(ImageSet, ImageSet.id == ImageSetMember.set_id)
        .where(ImageSetMember.id == member_id, ImageSet.kind == "style")
    ).first()


def get_image_set(session: Session, *, set_id: str, kind: str | None = None) -> ImageSet | None:
    row = session.get(ImageSet, set_id)
    return row if row is not None and (kind is None or row.kind == kind) else None


def list_image_sets(session: Session, *, kind: str) -> list[ImageSet]:
    return list(
        session.scalars(
            select(ImageSet).where(ImageSet.kind == kind).order_by(ImageSet.created_at.desc())
        )
    )


def delete_image_set(session: Session, *, image_set: ImageSet) -> None:
    for table in (ImageSetMember, StyleSetStats):
        session.execute(delete(table).where(table.set_id == image_set.id))
    session.delete(image_set)
    session.commit()


def get_set_stats(
    session: Session, *, set_id: str, model_key: str, set_digest: str
) -> StyleSetStats | None:
    return session.scalar(
        select(StyleSetStats).where(
            StyleSetStats.set_id == set_id,
            StyleSetStats.model_key == model_key,
            StyleSetStats.set_digest == set_digest,
        )
    )


def save_set_stats(
    session: Session, *, set_id: str, model_key: str, set_digest: str, stats_sha256: str
) -> None:
    """Record computed statistics; a concurrent worker that stored the same ones first wins."""
    session.add(
        StyleSetStats(
            set_id=set_id, model_key=model_key, set_digest=set_digest, stats_sha256=stats_sha256
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
