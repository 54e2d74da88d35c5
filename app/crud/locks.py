"""Locks a transaction holds until it ends, where a count or a file must not change under it:
one key's submissions counted and inserted one at a time (`lock_key`), and a content-addressed
file's write ordered against its deletion (`lock_files`). Each dialect its own way: PostgreSQL's
row and advisory locks, SQLite's one write lock.
"""

from sqlalchemy import false, func, select, update
from sqlalchemy.orm import Session

from app.tables import ApiKey, StoredImage


def lock_key(session: Session, *, key_id: int) -> None:
    """Until this transaction ends, hold the key's row, so that its submissions count and insert
    their jobs one at a time (PostgreSQL: FOR NO KEY UPDATE, which still lets other rows name it;
    SQLite: its one write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(ApiKey.id).where(ApiKey.id == key_id).with_for_update(key_share=True)
        )
    else:
        session.execute(update(ApiKey).where(false()).values(id=ApiKey.id))


def lock_files(session: Session, keys: set[str], *, exclusive: bool = False) -> None:
    """Until this transaction ends, hold the lock that orders writing a content-addressed file
    against deleting it. A writer takes it shared (writers never wait for each other) before it
    puts the bytes and keeps it until the row naming them is committed; retention takes it
    exclusive for one key while it checks that nothing live names the file and deletes it. So a
    deletion either sees the new row, or ends before the writer's put, which then writes the
    bytes again (a put first looks whether they are there).

    PostgreSQL: a transaction-level advisory lock per key (a 64-bit hash of it; a collision only
    makes one wait for the other). SQLite: its one write lock, taken now by a write that changes
    nothing (it allows one writer at a time anyway; taking it early is what orders the two)."""
    if not keys:
        return
    if session.get_bind().dialect.name == "postgresql":
        lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
        for key in sorted(keys):
            session.execute(select(lock(func.hashtextextended(key, 0))))
    else:
        session.execute(update(StoredImage).where(false()).values(sha256=StoredImage.sha256))
