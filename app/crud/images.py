"""Stored images: content-addressed bytes in storage and one row per sha256. `_add_image` and
`_add_clean_image` add the row without committing, for the other resources' functions that store
images together with their own rows.
"""

from sqlalchemy.orm import Session

from app.crud.locks import lock_files
from app.db import dialect_insert, utcnow
from app.errors import NotFound
from app.images import CleanImage
from app.storage import Storage, sha256_hex
from app.tables import StoredImage


def _add_image(
    session: Session, *, storage: Storage, data: bytes, width: int, height: int, content_type: str
) -> StoredImage:
    """Write the bytes to storage and add (not commit) their row; the file cannot be deleted by
    retention until this transaction ends (`lock_files`)."""
    lock_files(session, {sha256_hex(data)})
    key = storage.put(data)
    row = session.get(StoredImage, key)
    if row is None:
        # INSERT ... ON CONFLICT DO NOTHING: concurrent requests uploading the same bytes
        # (content-addressed: one row) must not fail each other with a unique violation.
        session.execute(
            dialect_insert(session)(StoredImage)
            .values(
                sha256=key,
                content_type=content_type,
                width=width,
                height=height,
                size_bytes=len(data),
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
        row = session.get(StoredImage, key)
        if row is None:
            raise RuntimeError(f"image row {key} neither inserted nor found")
    return row


def _add_clean_image(session: Session, *, storage: Storage, image: CleanImage) -> StoredImage:
    return _add_image(
        session,
        storage=storage,
        data=image.data,
        width=image.width,
        height=image.height,
        content_type=image.content_type,
    )


def store_image(
    session: Session, *, storage: Storage, data: bytes, width: int, height: int, content_type: str
) -> StoredImage:
    """Store an image (a job's result): the bytes, then their row, committed."""
    row = _add_image(
        session, storage=storage, data=data, width=width, height=height, content_type=content_type
    )
    session.commit()
    return row


def get_image(session: Session, *, sha256: str) -> StoredImage | None:
    return session.get(StoredImage, sha256)


def require_image(session: Session, *, sha256: str) -> StoredImage:
    """The row of an image a style, set or job references (NotFound if it went missing)."""
    row = session.get(StoredImage, sha256)
    if row is None:
        raise NotFound("image_not_found", f"stored image {sha256} is missing")
    return row
