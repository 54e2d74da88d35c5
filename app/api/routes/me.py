"""`GET /v1/me`: who the caller's key belongs to, so a client (the web page) can check a key and
know whether to show admin tools without trying an admin route."""

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import CurrentKey

router = APIRouter(prefix="/v1/me", tags=["keys"])


class KeyPublic(BaseModel):
    id: int
    name: str
    is_admin: bool


@router.get("", response_model=KeyPublic)
def whoami(key: CurrentKey) -> KeyPublic:
    """The caller's key: its name and whether it is an admin key (never the secret)."""
    return KeyPublic(id=key.id, name=key.name, is_admin=key.is_admin)
