"""Styles: named style images a key can reuse by `style_id`, with their credits."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from app import crud
from app.api.deps import CurrentKey, SessionDep, SettingsDep, StorageDep
from app.api.errors import APIError
from app.api.openapi import errors
from app.api.uploads import BINARY, NAME_SCHEMA, form_name, multipart_openapi, read_form
from app.images import validate_image
from app.presenters import style_public
from app.schemas import StylePublic, StylesPublic
from app.tables import Style
from contracts.credits import DECLARED_FIELDS, CreditError, check_declared

router = APIRouter(prefix="/v1/styles", tags=["styles"])

_CREDIT_SCHEMA: dict[str, dict[str, Any]] = {
    field: {"type": "string", "maxLength": length} for field, length in DECLARED_FIELDS.items()
}
_CREDIT_SCHEMA["source_url"]["format"] = "uri"
_FORM_SCHEMA = multipart_openapi(
    ["image"], {"image": BINARY, "name": NAME_SCHEMA, **_CREDIT_SCHEMA}
)


def _style_or_404(session: SessionDep, key: CurrentKey, style_id: str) -> Style:
    style = crud.get_style(session, style_id=style_id, viewer=key)
    if style is None:
        raise APIError(404, "style_not_found", f"no style {style_id}")
    return style


@router.post("", status_code=201, response_model=StylePublic, openapi_extra=_FORM_SCHEMA)
async def create_style(
    request: Request,
    response: Response,
    key: CurrentKey,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> StylePublic:
    """Upload a style image (multipart: `image`, optional `name`, and the credit every result
    in this style will carry: `title`, `artist`, `source_url`, `licence`, as you declare them)."""
    form = await read_form(request, max_file_bytes=settings.max_upload_bytes)
    part = form.files.get("image")
    if part is None:
        raise APIError(422, "missing_field", "the 'image' file is required")
    name = form_name(form, part.filename, "style")
    try:
        credit = check_declared({field: form.fields.get(field) for field in DECLARED_FIELDS})
    except CreditError as exc:
        raise APIError(422, "invalid_credit", str(exc)) from exc
    image = await run_in_threadpool(
        validate_image,
        part.data,
        field="image",
        max_pixels=settings.max_pixels,
        max_upload_side=settings.max_upload_side,
    )
    style = crud.create_style(
        session, storage=storage, owner=key, name=name, image=image, credit=credit
    )
    response.headers["Location"] = f"/v1/styles/{style.id}"
    return style_public(style, crud.require_image(session, sha256=style.image_sha256))


@router.get("", response_model=StylesPublic)
def list_styles(key: CurrentKey, session: SessionDep) -> StylesPublic:
    """Your styles, newest first, then the built-in ones (`builtin: true`), each with its
    credit."""
    styles = crud.list_styles(session, viewer=key)
    return StylesPublic(
        data=[style_public(s, crud.require_image(session, sha256=s.image_sha256)) for s in styles]
    )


@router.get("/{style_id}", response_model=StylePublic)
def get_style(style_id: str, key: CurrentKey, session: SessionDep) -> StylePublic:
    """One style."""
    style = _style_or_404(session, key, style_id)
    return style_public(style, crud.require_image(session, sha256=style.image_sha256))


@router.get("/{style_id}/image", response_class=Response)
def get_style_image(
    style_id: str, key: CurrentKey, session: SessionDep, storage: StorageDep
) -> Response:
    """The style's image (RGB: a PNG, or the uploaded JPEG without its metadata)."""
    style = _style_or_404(session, key, style_id)
    image = crud.require_image(session, sha256=style.image_sha256)
    return Response(
        storage.get(style.image_sha256),
        media_type=image.content_type,
        headers={"Cache-Control": "private, max-age=86400, immutable"},
    )


@router.delete("/{style_id}", status_code=204, response_class=Response, responses=errors(403))
def delete_style(style_id: str, key: CurrentKey, session: SessionDep) -> Response:
    """Delete a style (jobs that used it keep their copy of the image); built-ins: 403."""
    style = _style_or_404(session, key, style_id)
    if style.is_builtin:
        raise APIError(403, "builtin_style", "a built-in style cannot be deleted")
    crud.delete_style(session, style=style)
    return Response(status_code=204)
