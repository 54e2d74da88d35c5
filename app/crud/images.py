"""Stored images: content-addressed bytes in storage and one row per sha256. `_add_image`,
`_add_clean_image` and `_add_file` (a clip, stored from its file) add the row without
committing, for the other resources' functions that store images together with their own rows.
"""

from pathlib import Path

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
    return _add_row(session, key, len(data), width, height, content_type)


def _add_file(
    session: Session,
    *,
    storage: Storage,
    path: Path,
    sha256: str,
    width: int,
    height: int,
    content_type: str,
) -> StoredImage:
    """`_add_image` for a file too large to hold in memory (a video clip), stored from `path`;
    `sha256` is its key, computed by the caller as it wrote the file (needed before the file is
    stored, to lock it), and checked against the one storage computes."""
    lock_files(session, {sha256})
    key = storage.put_file(path)
    if key != sha256:
        raise RuntimeError(f"{path} changed after it was hashed ({sha256}, stored as {key})")
    return _add_row(session, key, path.stat().st_size, width, height, content_type)


def _add_row(
    session: Session, key: str, size_bytes: int, width: int, height: int, content_type: str
) -> StoredImage:
    """The stored file's row, added (not committed) unless it is there already."""
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
                size_bytes=size_bytes,
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
