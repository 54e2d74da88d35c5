"""Style sets (`/v1/style-sets`) and content sets (`/v1/content-sets`): one implementation.

Admins create, extend, shrink and delete sets; any key can read style sets (to stylize with
`style_set_id`), only admins content sets. Every image passes the upload validation; all images
of a request are checked before anything is written (a rejected request writes nothing).
"""

import io
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from PIL import Image
from sqlalchemy.orm import Session

from app import crud
from app.api.deps import AdminKey, SessionDep, SettingsDep, StorageDep, admin_key, current_key
from app.api.errors import APIError
from app.api.uploads import BINARY, NAME_SCHEMA, Form, form_name, multipart_openapi, read_form
from app.config import Settings
from app.images import validate_image
from app.imagesets import (
    MAX_SET_IMAGES,
    MIN_SET_IMAGES,
    SetImage,
    exact_duplicate_finding,
    perceptual_hash,
    read_zip,
    thumbnail_png,
)
from app.presenters import image_set_public
from app.schemas import ImageSetPublic, ImageSetsPublic
from app.storage import Storage
from app.tables import ImageSet, ImageSetMember

_FORM_SCHEMA = multipart_openapi(
    ["name"],
    {
        "name": NAME_SCHEMA,
        "images": {"type": "array", "items": BINARY},
        "archive": {**BINARY, "description": "a zip of images, instead of or besides `images`"},
    },
)
_ADD_SCHEMA = multipart_openapi(
    [], {"images": {"type": "array", "items": BINARY}, "archive": BINARY}
)


def _prepare(filename: str, data: bytes, settings: Settings) -> SetImage:
    if len(data) > settings.max_upload_bytes:
        raise APIError(
            413, "file_too_large", f"{filename} exceeds {settings.max_upload_bytes} bytes"
        )
    clean = validate_image(
        data,
        field=filename,
        max_pixels=settings.max_pixels,
        max_upload_side=settings.max_upload_side,
    )
    image = Image.open(io.BytesIO(clean.data))
    return SetImage(filename, clean, perceptual_hash(image), thumbnail_png(image))


async def _read_uploads(request: Request, settings: Settings) -> tuple[Form, list[SetImage]]:
    """Parse and validate every uploaded image (files `images` and/or zip `archive`)."""
    form = await read_form(
        request,
        max_file_bytes=max(settings.max_archive_bytes, settings.max_upload_bytes),
        max_parts=MAX_SET_IMAGES + 8,
        multi=frozenset({"images"}),
    )
    unknown = set(form.files) - {"archive"}
    if unknown:
        raise APIError(422, "unknown_field", f"unexpected file field(s): {sorted(unknown)}")
    raw = [
        (p.filename or f"image{i}", bytes(p.data))
        for i, p in enumerate(form.file_lists.get("images", []))
    ]
    if "archive" in form.files:
        raw += await run_in_threadpool(
            read_zip, form.files["archive"].data, max_file_bytes=settings.max_upload_bytes
        )
    if len(raw) > MAX_SET_IMAGES:
        raise APIError(413, "too_many_images", f"more than {MAX_SET_IMAGES} images")
    prepared = [await run_in_threadpool(_prepare, name, data, settings) for name, data in raw]
    return form, prepared


def _dedupe(
    prepared: list[SetImage], existing: dict[str, str]
) -> tuple[list[SetImage], list[dict[str, Any]]]:
    """Drop exact duplicates (same pixels), against the set and within the upload."""
    seen = dict(existing)  # sha256 -> filename
    kept, findings = [], []
    for p in prepared:
        if p.sha256 in seen:
            findings.append(exact_duplicate_finding(seen[p.sha256], p.filename))
            continue
        seen[p.sha256] = p.filename
        kept.append(p)
    return kept, findings


def _public(session: Session, image_set: ImageSet) -> ImageSetPublic:
    members = crud.set_members(session, set_id=image_set.id)
    images = {m.image_sha256: crud.require_image(session, sha256=m.image_sha256) for m in members}
    return image_set_public(image_set, members, images)


def _too_few(count: int, dropped: int) -> APIError:
    extra = f" ({dropped} exact duplicate(s) dropped)" if dropped else ""
    return APIError(
        422,
        "too_few_images",
        f"a set needs at least {MIN_SET_IMAGES} different images, got {count}{extra}",
    )


def _image(session: Session, storage: Storage, sha256: str) -> Response:
    row = crud.require_image(session, sha256=sha256)
    return Response(
        storage.get(sha256),
        media_type=row.content_type,
        headers={"Cache-Control": "private, max-age=86400, immutable", "ETag": f'"{sha256}"'},
    )


class SetRoutes:
    """The routes of one kind of set (`style` or `content`), as methods bound to the kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _get(self, session: Session, set_id: str) -> ImageSet:
        row = crud.get_image_set(session, set_id=set_id, kind=self.kind)
        if row is None:
            raise APIError(404, f"{self.kind}_set_not_found", f"no {self.kind} set {set_id}")
        return row

    def _member(self, session: Session, set_id: str, member_id: str) -> ImageSetMember:
        self._get(session, set_id)
        member = crud.get_set_member(session, member_id=member_id)
        if member is None or member.set_id != set_id:
            raise APIError(404, "image_not_found", f"no image {member_id} in set {set_id}")
        return member

    async def create_set(
        self,
        request: Request,
        response: Response,
        key: AdminKey,
        session: SessionDep,
        storage: StorageDep,
        settings: SettingsDep,
    ) -> ImageSetPublic:
        """Create a set from repeated `images` files and/or a zip `archive` (admin)."""
        form, prepared = await _read_uploads(request, settings)
        name = form_name(form)
        if set(form.fields) - {"name"}:
            unknown = sorted(set(form.fields) - {"name"})
            raise APIError(422, "unknown_field", f"unexpected field(s): {unknown}")
        kept, findings = _dedupe(prepared, {})
        if len(kept) < MIN_SET_IMAGES:
            raise _too_few(len(kept), len(prepared) - len(kept))
        image_set = crud.create_image_set(
            session,
            storage=storage,
            kind=self.kind,
            name=name,
            owner=key,
            images=kept,
            findings=findings,
            crop=settings.training_crop,
        )
        response.headers["Location"] = f"/v1/{self.kind}-sets/{image_set.id}"
        return _public(session, image_set)

    def list_sets(self, session: SessionDep) -> ImageSetsPublic:
        """All sets of this kind, newest first."""
        rows = crud.list_image_sets(session, kind=self.kind)
        return ImageSetsPublic(data=[_public(session, r) for r in rows])

    def get_set(self, set_id: str, session: SessionDep) -> ImageSetPublic:
        """A set with its images, thumbnails and data-check findings."""
        return _public(session, self._get(session, set_id))

    def delete_set(self, set_id: str, _admin: AdminKey, session: SessionDep) -> Response:
        """Delete a set (admin); models trained on it keep its digest in their lineage."""
        crud.delete_image_set(session, image_set=self._get(session, set_id))
        return Response(status_code=204)

    async def add_images(
        self,
        set_id: str,
        request: Request,
        _admin: AdminKey,
        session: SessionDep,
        storage: StorageDep,
        settings: SettingsDep,
    ) -> ImageSetPublic:
        """Add images to a set (admin; `images` files and/or a zip `archive`)."""
        image_set = self._get(session, set_id)
        _, prepared = await _read_uploads(request, settings)
        if not prepared:
            raise APIError(422, "missing_field", "at least one image is required")
        existing = {m.image_sha256: m.filename for m in crud.set_members(session, set_id=set_id)}
        if len(existing) + len(prepared) > MAX_SET_IMAGES:
            raise APIError(413, "too_many_images", f"a set holds at most {MAX_SET_IMAGES} images")
        kept, findings = _dedupe(prepared, existing)
        crud.add_set_images(
            session,
            storage=storage,
            image_set=image_set,
            images=kept,
            findings=findings,
            crop=settings.training_crop,
        )
        return _public(session, image_set)

    def remove_image(
        self,
        set_id: str,
        member_id: str,
        _admin: AdminKey,
        session: SessionDep,
        settings: SettingsDep,
    ) -> ImageSetPublic:
        """Remove one image from a set (admin); a set keeps at least the minimum."""
        member = self._member(session, set_id, member_id)
        count = len(crud.set_members(session, set_id=set_id))
        if count - 1 < MIN_SET_IMAGES:
            raise APIError(
                409,
                "too_few_images",
                f"a set needs at least {MIN_SET_IMAGES} images; it has {count}",
            )
        image_set = self._get(session, set_id)
        crud.remove_set_member(
            session, image_set=image_set, member=member, crop=settings.training_crop
        )
        return _public(session, image_set)

    def get_image(
        self, set_id: str, member_id: str, session: SessionDep, storage: StorageDep
    ) -> Response:
        """One image of the set (normalised PNG)."""
        return _image(session, storage, self._member(session, set_id, member_id).image_sha256)

    def get_thumbnail(
        self, set_id: str, member_id: str, session: SessionDep, storage: StorageDep
    ) -> Response:
        """The image's thumbnail (PNG, longer side 256 px)."""
        return _image(session, storage, self._member(session, set_id, member_id).thumb_sha256)

    def router(self) -> APIRouter:
        kind = self.kind
        router = APIRouter(prefix=f"/v1/{kind}-sets", tags=[f"{kind} sets"])
        # Any key reads style sets (to stylize with them); only admins read content sets.
        reader = [Depends(current_key if kind == "style" else admin_key)]
        router.post(
            "",
            status_code=201,
            response_model=ImageSetPublic,
            openapi_extra=_FORM_SCHEMA,
            summary=f"Create a {kind} set",
        )(self.create_set)
        router.get("", response_model=ImageSetsPublic, dependencies=reader)(self.list_sets)
        router.get("/{set_id}", response_model=ImageSetPublic, dependencies=reader)(self.get_set)
        router.delete("/{set_id}", status_code=204)(self.delete_set)
        router.post("/{set_id}/images", response_model=ImageSetPublic, openapi_extra=_ADD_SCHEMA)(
            self.add_images
        )
        router.delete("/{set_id}/images/{member_id}", response_model=ImageSetPublic)(
            self.remove_image
        )
        image = "/{set_id}/images/{member_id}"
        router.get(image, response_class=Response, dependencies=reader)(self.get_image)
        router.get(image + "/thumbnail", response_class=Response, dependencies=reader)(
            self.get_thumbnail
        )
        return router


style_sets = SetRoutes("style").router()
content_sets = SetRoutes("content").router()
