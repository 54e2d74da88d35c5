"""Styles: saved by a key or shipped built in (registered at start), and each style image's
statistics per model, computed once and kept.
"""

from dataclasses import asdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.crud.ids import new_id
from app.crud.images import _add_clean_image
from app.db import dialect_insert, utcnow
from app.images import CleanImage, validate_image
from app.storage import Storage
from app.tables import ApiKey, Style, StyleStats


def create_style(
    session: Session,
    *,
    storage: Storage,
    owner: ApiKey,
    name: str,
    image: CleanImage,
    credit: dict[str, str | None] | None = None,
) -> Style:
    """Store the style's image and the style, with the credit its uploader declared
    (contracts.credits.check_declared's fields), in one transaction."""
    row = _add_clean_image(session, storage=storage, image=image)
    style = Style(
        id=new_id(), name=name, image_sha256=row.sha256, owner_id=owner.id, **(credit or {})
    )
    session.add(style)
    session.commit()
    return style


def get_style(session: Session, *, style_id: str, viewer: ApiKey) -> Style | None:
    """The style, or None when it does not exist or is another key's (built-ins are everyone's)."""
    style = session.get(Style, style_id)
    if style is None or (
        not style.is_builtin and not viewer.is_admin and style.owner_id != viewer.id
    ):
        return None
    return style


def list_styles(session: Session, *, viewer: ApiKey) -> list[Style]:
    """The viewer's styles (an admin's: all uploaded ones), newest first, then the built-ins in
    the order they ship."""
    query = select(Style).where(Style.is_builtin.is_(False)).order_by(Style.created_at.desc())
    if not viewer.is_admin:
        query = query.where(Style.owner_id == viewer.id)
    builtin = select(Style).where(Style.is_builtin).order_by(Style.created_at, Style.id)
    return [*session.scalars(query), *session.scalars(builtin)]


def register_builtin_styles(session: Session, *, storage: Storage, enabled: bool) -> str:
    """Register the shipped styles not yet registered (by file name), in one transaction; say
    what was done in one line for the start-up log. Idempotent, and safe when API processes
    start together: a style is inserted with ON CONFLICT DO NOTHING on its unique file name."""
    from app.builtin_styles import builtin_styles

    if not enabled:
        return "built-in styles: disabled (ATELIER_BUILTIN_STYLES=false)"
    known = {s.builtin_file: s for s in session.scalars(select(Style).where(Style.is_builtin))}
    added = updated = 0
    for number, shipped in enumerate(builtin_styles()):
        credit = {
            "title": shipped.title,
            "artist": shipped.artist,
            "source_url": shipped.source_url,
            "licence": shipped.licence,
        }
        registered = known.get(shipped.file)
        if registered is not None:
            # Registered before credits existed, or by an older data file: brought up to date.
            if registered.info != asdict(shipped) or any(
                getattr(registered, k) != v for k, v in credit.items()
            ):
                registered.info = asdict(shipped)
                for field, value in credit.items():
                    setattr(registered, field, value)
                updated += 1
            continue
        image = validate_image(
            shipped.path.read_bytes(), field=shipped.file, max_pixels=10**8, max_upload_side=10**5
        )
        row = _add_clean_image(session, storage=storage, image=image)
        inserted = session.execute(
            dialect_insert(session)(Style)
            .values(
                id=new_id(),
                name=shipped.name,
                image_sha256=row.sha256,
                owner_id=None,
                is_builtin=True,
                info=asdict(shipped),
                builtin_file=shipped.file,
                **credit,
                # Listed in the data file's order.
                created_at=utcnow() + timedelta(microseconds=number),
            )
            .on_conflict_do_nothing(index_elements=["builtin_file"])
            .returning(Style.id)
        )
        added += inserted.first() is not None  # None: another process registered it first
    session.commit()
    return f"built-in styles: {added} registered, {len(known)} already there" + (
        f" ({updated} with their credit brought up to date)" if updated else ""
    )


def get_style_stats(session: Session, *, image_sha256: str, model_key: str) -> StyleStats | None:
    return session.scalar(
        select(StyleStats).where(
            StyleStats.image_sha256 == image_sha256, StyleStats.model_key == model_key
        )
    )


def save_style_stats(
    session: Session, *, image_sha256: str, model_key: str, stats_sha256: str
) -> None:
    """Record a style image's computed statistics; a concurrent worker that stored them first
    wins."""
    session.add(
        StyleStats(image_sha256=image_sha256, model_key=model_key, stats_sha256=stats_sha256)
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


def delete_style(session: Session, *, style: Style) -> None:
    session.delete(style)
    session.commit()
