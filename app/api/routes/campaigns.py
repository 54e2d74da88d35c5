"""Campaigns: many photos x one or a few styles with one set of options, a child job per pair;
progress, a zip of the results, cancel."""

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app import crud, queue
from app.api.deps import CurrentKey, QueueDep, SessionDep, SettingsDep, StorageDep, run_db
from app.api.errors import APIError
from app.api.regions import check_region_mask, region_styles
from app.api.routes.stylizations import _check_method, _parameters, _recorded
from app.api.uploads import BINARY, Form, multipart_openapi, read_form
from app.credits import campaign_credits_text, recorded_credits, style_credit, upload_credit
from app.images import CleanImage, validate_image
from app.presenters import campaign_public
from app.schemas import CampaignPublic, ErrorPublic, StylizationCreate
from app.storage import Storage
from app.tables import ApiKey, Campaign, JobStatus, Style
from contracts.credits import StyleCredit
from contracts.images import check_name
from contracts.regions import MAX_REGIONS, RegionError, parse_crop, parse_keep_boxes, parse_regions

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

MAX_CAMPAIGN_STYLES = 5  # a campaign is one look, or a few to choose from
_CAMPAIGN_FIELDS = ("name", "style_ids", "regions")
_FORM_SCHEMA = multipart_openapi(
    ["photos"],
    {
        "photos": {"type": "array", "items": BINARY},
        "styles": {"type": "array", "items": BINARY},
        "name": {"type": "string"},
        "style_ids": {"type": "string", "description": 'JSON list of style ids, e.g. ["..."]'},
        "masks": {"type": "array", "items": BINARY},
        **StylizationCreate.model_json_schema()["properties"],
        # A campaign's `regions` are per photo: each entry overrides, for its photo, the
        # stylization fields of the same names (a single job's styled `regions` among them).
        "regions": {
            "type": "string",
            "description": "JSON list, one entry per photo (or null): "
            '{"keep_boxes": [[x0, y0, x1, y1]], "crop": [x0, y0, x1, y1], "regions": '
            '[{"box": [x0, y0, x1, y1] or "mask": i, "style_id": "..." or "keep": true}]}; '
            "a photo's own `regions` are a stylization's styled regions (a `mask` indexes the "
            "campaign's `masks` files)",
        },
    },
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 404, 409, 413, 415, 422)
}


def _json_list(form: Form, field: str) -> list[Any] | None:
    text = form.fields.get(field)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise APIError(422, "invalid_parameter", f"{field}: not JSON ({exc.msg})") from exc
    if not isinstance(value, list):
        raise APIError(422, "invalid_parameter", f"{field}: a JSON list is required")
    return value


def _photo_regions(entry: Any, index: int, masks: int) -> dict[str, Any]:
    """One photo's own `keep_boxes`, `crop` and styled `regions` (whose `mask` indexes the
    campaign's `masks` files), each checked like a single job's field of that name."""
    if entry is None:
        return {}
    if not isinstance(entry, dict) or set(entry) - {"keep_boxes", "crop", "regions"}:
        raise APIError(
            422,
            "invalid_parameter",
            f"regions[{index}]: an object with keep_boxes, crop and/or regions",
        )
    try:
        own: dict[str, Any] = {}
        if entry.get("keep_boxes") is not None:
            own["keep_boxes"] = [list(b) for b in parse_keep_boxes(json.dumps(entry["keep_boxes"]))]
        if entry.get("crop") is not None:
            own["crop"] = list(parse_crop(json.dumps(entry["crop"])))
        if entry.get("regions") is not None:
            styled = parse_regions(json.dumps(entry["regions"]), masks=masks)
            own["regions"] = [r.as_dict() for r in styled]
    except RegionError as exc:
        raise APIError(422, exc.code, f"regions[{index}]: {exc}") from exc
    return own


def _region_credits(
    session: Session, key: ApiKey, own: list[dict[str, Any]]
) -> list[list[StyleCredit]]:
    """Per photo, the credits of the styles its styled regions paint (their stored images
    recorded beside each `style_id`; 404 `style_not_found` for one the key cannot use)."""
    return [
        region_styles(session, key, entry["regions"]) if entry.get("regions") else []
        for entry in own
    ]


def _styles(session: Session, key: ApiKey, style_ids: list[Any]) -> list[Style]:
    """The saved (or built-in) styles a campaign names."""
    found: list[Style] = []
    for style_id in style_ids:
        style = crud.get_style(session, style_id=str(style_id), viewer=key)
        if style is None:
            raise APIError(404, "style_not_found", f"no style {style_id}")
        found.append(style)
    return found


async def _campaign_or_404(session: Session, key: ApiKey, campaign_id: str) -> Campaign:
    campaign = await run_db(session, crud.get_campaign, campaign_id=campaign_id, viewer=key)
    if campaign is None:
        raise APIError(404, "campaign_not_found", f"no campaign {campaign_id}")
    return campaign


@router.post(
    "",
    status_code=202,
    response_model=CampaignPublic,
    openapi_extra=_FORM_SCHEMA,
    responses=_ERRORS,
)
async def create_campaign(
    request: Request,
    response: Response,
    key: CurrentKey,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    client: QueueDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CampaignPublic:
    """Start a campaign (multipart: repeated `photos`, repeated `styles` files and/or
    `style_ids`, the options of a stylization, optional per-photo `regions` and the `masks`
    files their styled regions index): a child job per photo and style."""
    if idempotency_key:
        existing = await run_db(
            session, crud.get_campaign_by_idempotency_key, owner=key, key=idempotency_key
        )
        if existing is not None:
            response.headers["Location"] = f"/v1/campaigns/{existing.id}"
            response.headers["Idempotent-Replayed"] = "true"
            children = await run_db(session, crud.campaign_children, campaign_id=existing.id)
            return campaign_public(existing, children)

    max_photos = settings.max_campaign_photos
    form = await read_form(
        request,
        max_file_bytes=settings.max_upload_bytes,
        max_parts=max_photos + MAX_CAMPAIGN_STYLES + MAX_REGIONS + 32,
        multi=frozenset({"photos", "styles", "masks"}),
    )
    photo_parts = form.file_lists.get("photos", [])
    style_parts = form.file_lists.get("styles", [])
    mask_parts = form.file_lists.get("masks", [])
    if not photo_parts:
        raise APIError(422, "missing_field", "at least one 'photos' file is required")
    if len(photo_parts) > max_photos:
        raise APIError(422, "too_many_photos", f"at most {max_photos} photos in a campaign")
    if "mask" in form.files:
        raise APIError(422, "unknown_field", "campaigns take keep_boxes (per photo: regions)")
    if len(mask_parts) > MAX_REGIONS:
        raise APIError(422, "too_many_regions", f"at most {MAX_REGIONS} masks files")
    style_ids = _json_list(form, "style_ids") or []
    if not 1 <= len(style_ids) + len(style_parts) <= MAX_CAMPAIGN_STYLES:
        raise APIError(
            422, "style_required", f"give 1 to {MAX_CAMPAIGN_STYLES} styles (files or style_ids)"
        )
    regions = _json_list(form, "regions") or []
    if len(regions) > len(photo_parts):
        raise APIError(422, "invalid_parameter", "regions: one entry per photo at most")
    try:
        name = check_name(form.fields.get("name") or "campaign")
    except ValueError as exc:
        raise APIError(422, "invalid_parameter", f"name: {exc}") from exc
    # The shared options, with a stand-in style so a single job's rule (one style) holds.
    fields = {k: v for k, v in form.fields.items() if k not in _CAMPAIGN_FIELDS}
    for field in ("style_id", "style_set_id", "style_set_image_id"):
        if field in fields:
            raise APIError(422, "unknown_field", f"campaigns take style_ids, not {field}")
    stand_in = Form(
        fields=fields, files={"content": photo_parts[0], "style": photo_parts[0]}, file_lists={}
    )
    params = _parameters(stand_in, settings)
    shared = _recorded(params, settings)
    own = [_photo_regions(entry, i, len(mask_parts)) for i, entry in enumerate(regions)]
    saved = await run_db(session, _styles, key, style_ids)
    region_credits = await run_db(session, _region_credits, key, own)

    limits = {"max_pixels": settings.max_pixels, "max_upload_side": settings.max_upload_side}
    photos: list[CleanImage] = []
    for i, part in enumerate(photo_parts):
        photos.append(
            await run_in_threadpool(validate_image, part.data, field=f"photos[{i}]", **limits)
        )
    uploaded = [
        await run_in_threadpool(validate_image, part.data, field=f"styles[{i}]", **limits)
        for i, part in enumerate(style_parts)
    ]
    region_masks = [
        await run_in_threadpool(check_region_mask, part.data, i, **limits)
        for i, part in enumerate(mask_parts)
    ]
    await run_db(session, _check_method, params)

    # Everything is valid: only now touch storage and the database.
    style_names = [str(s) for s in style_ids] + [p.filename for p in style_parts]
    credits = [style_credit(s) for s in saved] + [upload_credit(p.filename) for p in style_parts]
    pairs: list[dict[str, Any]] = []
    for p, part in enumerate(photo_parts):
        for s in range(len(style_names)):
            child = {**shared, **(own[p] if p < len(own) else {})}
            child.update(
                campaign_photo=p,
                campaign_style=s,
                photo_name=part.filename,
                style_name=style_names[s],
                style_credits=recorded_credits(
                    credits[s], region_credits[p] if p < len(region_credits) else []
                ),
                model_id=params.model_id,
            )
            pairs.append(child)
    campaign = await run_db(
        session,
        crud.create_campaign,
        storage=storage,
        owner=key,
        name=name,
        parameters={**shared, "photos": len(photos), "styles": style_names},
        photos=photos,
        saved_styles=[(s.image_sha256, s.id) for s in saved],
        uploaded_styles=uploaded,
        region_masks=region_masks,
        children=pairs,
        idempotency_key=idempotency_key,
        webhook_url=str(params.webhook_url) if params.webhook_url else None,
    )
    jobs = await run_db(session, crud.campaign_children, campaign_id=campaign.id)
    log = request.app.state.logger
    for job in jobs:
        if job.status == JobStatus.queued and job.dispatched_at is None:
            await run_in_threadpool(
                queue.dispatch, client, session, job_id=job.id, kind=job.kind, log=log
            )
    response.headers["Location"] = f"/v1/campaigns/{campaign.id}"
    return campaign_public(campaign, jobs)


@router.get("/{campaign_id}", response_model=CampaignPublic)
async def get_campaign(campaign_id: str, key: CurrentKey, session: SessionDep) -> CampaignPublic:
    """A campaign: overall progress, children counted by status, and the children."""
    campaign = await _campaign_or_404(session, key, campaign_id)
    children = await run_db(session, crud.campaign_children, campaign_id=campaign.id)
    return campaign_public(campaign, children)


class _Chunks:
    """A write-only file for `zipfile` whose bytes are handed on as they are written."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", PurePosixPath(text).stem).strip("-")[:60] or "image"


def _zip(storage: Storage, entries: list[tuple[str, str]], credits: str) -> Iterator[bytes]:
    """The zip of CREDITS.txt then (name, storage key), produced entry by entry (results are
    already compressed images: stored, not deflated)."""
    out = _Chunks()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[call-overload]
        archive.writestr("CREDITS.txt", credits.encode("utf-8"))
        for name, key in entries:
            archive.writestr(name, storage.get(key))
            yield out.take()
    yield out.take()


@router.get("/{campaign_id}/archive", response_class=StreamingResponse)
async def get_campaign_archive(
    campaign_id: str, key: CurrentKey, session: SessionDep, storage: StorageDep
) -> StreamingResponse:
    """A zip of the finished images (`<photo>__<style>.<ext>`) and `CREDITS.txt` (each style's
    credit and the model that made each image), streamed."""
    campaign = await _campaign_or_404(session, key, campaign_id)
    children = await run_db(session, crud.campaign_children, campaign_id=campaign.id)
    entries = []
    members = []
    for job in children:
        if job.status != JobStatus.succeeded or job.result_sha256 is None:
            continue
        params = job.parameters
        ext = {"jpeg": "jpg"}.get(params.get("output_format", "png"), params.get("output_format"))
        name = (
            f"{params['campaign_photo'] + 1:03d}-{_slug(params.get('photo_name', 'photo'))}"
            f"__{_slug(params.get('style_name', 'style'))}.{ext}"
        )
        entries.append((name, job.result_sha256))
        members.append((name, job))
    filename = f"{_slug(campaign.name)}-{campaign.id[:8]}.zip"
    return StreamingResponse(
        _zip(storage, entries, campaign_credits_text(campaign.name, members)),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/{campaign_id}/cancel", response_model=CampaignPublic)
async def cancel_campaign(
    request: Request, campaign_id: str, key: CurrentKey, session: SessionDep, client: QueueDep
) -> CampaignPublic:
    """Cancel the children not finished yet (queued ones at once, running ones at their next
    progress check); finished results stay."""
    campaign = await _campaign_or_404(session, key, campaign_id)
    children = await run_db(session, crud.cancel_campaign, campaign=campaign)
    finished = await run_db(session, crud.finish_campaign_if_done, campaign_id=campaign.id)
    if finished is not None and finished.webhook_url:
        await run_in_threadpool(queue.send_campaign_webhook, client, campaign.id)
    return campaign_public(finished or campaign, children)
