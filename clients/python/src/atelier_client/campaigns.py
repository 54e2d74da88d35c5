"""Campaigns: many photos by one or a few styles with one set of options; progress over all
the children, a zip of the results, cancel."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from atelier_client import routes
from atelier_client.decoding import decode
from atelier_client.options import FileInput, StylizationOptions, file_part, form_fields
from atelier_client.polling import DEFAULT_WAIT_S, wait_until_finished
from atelier_client.schemas import Campaign
from atelier_client.stylizations import mask_parts, new_idempotency_key
from atelier_client.transport import FileParts, Operation, call, download_to, request

if TYPE_CHECKING:
    from atelier_client.async_client import AsyncClient
    from atelier_client.client import Client

CampaignProgress = Callable[[Campaign], None]


def create_campaign(
    photos: Sequence[FileInput],
    styles: Sequence[FileInput],
    style_ids: Sequence[str],
    regions: Sequence[Mapping[str, Any] | None] | None,
    masks: Sequence[FileInput],
    name: str | None,
    idempotency_key: str | None,
    options: Mapping[str, object],
) -> Operation[Campaign]:
    files: FileParts = [("photos", file_part(p, f"photo-{i + 1}")) for i, p in enumerate(photos)]
    files += [("styles", file_part(s, f"style-{i + 1}")) for i, s in enumerate(styles)]
    files += mask_parts(masks)
    fields = {
        "name": name,
        "style_ids": list(style_ids) or None,
        "regions": list(regions) if regions is not None else None,
        **options,
    }
    req = request(
        routes.CREATE_CAMPAIGN,
        form=form_fields(fields),
        files=files,
        headers={"Idempotency-Key": idempotency_key or new_idempotency_key()},
    )
    response = yield from call(req)
    return decode(Campaign, response.json())


def get_campaign(campaign_id: str) -> Operation[Campaign]:
    response = yield from call(request(routes.GET_CAMPAIGN, ids={"campaign_id": campaign_id}))
    return decode(Campaign, response.json())


def cancel_campaign(campaign_id: str) -> Operation[Campaign]:
    response = yield from call(request(routes.CANCEL_CAMPAIGN, ids={"campaign_id": campaign_id}))
    return decode(Campaign, response.json())


def campaign_archive(campaign_id: str) -> Operation[bytes]:
    response = yield from call(request(routes.CAMPAIGN_ARCHIVE, ids={"campaign_id": campaign_id}))
    return response.content


def save_campaign_archive(campaign_id: str, path: str | os.PathLike[str]) -> Operation[Path]:
    return download_to(routes.CAMPAIGN_ARCHIVE, {"campaign_id": campaign_id}, path)


def wait_campaign(
    campaign_id: str,
    timeout: float | None,
    poll_interval: float,
    progress: CampaignProgress | None,
) -> Operation[Campaign]:
    return wait_until_finished(
        lambda: get_campaign(campaign_id),
        f"campaign {campaign_id}",
        timeout,
        poll_interval,
        progress,
    )


class Campaigns:
    """`client.campaigns`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        photos: Sequence[FileInput],
        *,
        styles: Sequence[FileInput] = (),
        style_ids: Sequence[str] = (),
        regions: Sequence[Mapping[str, Any] | None] | None = None,
        masks: Sequence[FileInput] = (),
        name: str | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[StylizationOptions],
    ) -> Campaign:
        """Start a campaign: a child job per photo and style (style files and/or saved
        `style_ids`); `regions` has one entry per photo (None, or `{"keep_boxes": [...],
        "crop": [...], "regions": [StyledRegion, ...]}`: that photo's own values of those
        stylization fields), and a styled region's `mask` indexes `masks`; the options are a
        stylization's, shared by every child."""
        op = create_campaign(
            photos, styles, style_ids, regions, masks, name, idempotency_key, options
        )
        return self._client._run(op)

    def get(self, campaign_id: str) -> Campaign:
        return self._client._run(get_campaign(campaign_id))

    def cancel(self, campaign_id: str) -> Campaign:
        """Cancel the children not finished yet; finished results stay."""
        return self._client._run(cancel_campaign(campaign_id))

    def wait(
        self,
        campaign_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: CampaignProgress | None = None,
    ) -> Campaign:
        op = wait_campaign(campaign_id, timeout, self._client.poll_interval, progress)
        return self._client._run(op)

    def archive(self, campaign_id: str) -> bytes:
        """A zip of the finished images (`<photo>__<style>.<ext>`)."""
        return self._client._run(campaign_archive(campaign_id))

    def save_archive(self, campaign_id: str, path: str | os.PathLike[str]) -> Path:
        """The archive written to `path`, streamed to disk (see `Jobs.save`)."""
        return self._client._run(save_campaign_archive(campaign_id, path))


class AsyncCampaigns:
    """`client.campaigns` of an `AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        photos: Sequence[FileInput],
        *,
        styles: Sequence[FileInput] = (),
        style_ids: Sequence[str] = (),
        regions: Sequence[Mapping[str, Any] | None] | None = None,
        masks: Sequence[FileInput] = (),
        name: str | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[StylizationOptions],
    ) -> Campaign:
        op = create_campaign(
            photos, styles, style_ids, regions, masks, name, idempotency_key, options
        )
        return await self._client._run(op)

    async def get(self, campaign_id: str) -> Campaign:
        return await self._client._run(get_campaign(campaign_id))

    async def cancel(self, campaign_id: str) -> Campaign:
        return await self._client._run(cancel_campaign(campaign_id))

    async def wait(
        self,
        campaign_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: CampaignProgress | None = None,
    ) -> Campaign:
        op = wait_campaign(campaign_id, timeout, self._client.poll_interval, progress)
        return await self._client._run(op)

    async def archive(self, campaign_id: str) -> bytes:
        return await self._client._run(campaign_archive(campaign_id))

    async def save_archive(self, campaign_id: str, path: str | os.PathLike[str]) -> Path:
        return await self._client._run(save_campaign_archive(campaign_id, path))
