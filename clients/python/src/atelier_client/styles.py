"""Styles: saved paintings a key stylizes with by `style_id` (its own, and the built-ins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atelier_client import routes
from atelier_client.decoding import decode
from atelier_client.options import FileInput, file_part, form_fields
from atelier_client.schemas import Style
from atelier_client.transport import Operation, call, request

if TYPE_CHECKING:
    from atelier_client.async_client import AsyncClient
    from atelier_client.client import Client


def list_styles() -> Operation[list[Style]]:
    response = yield from call(request(routes.LIST_STYLES))
    return [decode(Style, item) for item in response.json()["data"]]


def get_style(style_id: str) -> Operation[Style]:
    response = yield from call(request(routes.GET_STYLE, ids={"style_id": style_id}))
    return decode(Style, response.json())


def upload_style(
    image: FileInput, name: str | None, credit: dict[str, str | None]
) -> Operation[Style]:
    req = request(
        routes.UPLOAD_STYLE,
        form=form_fields({"name": name, **credit}),
        files=[("image", file_part(image, "style"))],
    )
    response = yield from call(req)
    return decode(Style, response.json())


def delete_style(style_id: str) -> Operation[None]:
    yield from call(request(routes.DELETE_STYLE, ids={"style_id": style_id}))


def style_image(style_id: str) -> Operation[bytes]:
    response = yield from call(request(routes.STYLE_IMAGE, ids={"style_id": style_id}))
    return response.content


class Styles:
    """`client.styles`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> list[Style]:
        """Your styles, newest first, then the built-in ones (`builtin` true)."""
        return self._client._run(list_styles())

    def get(self, style_id: str) -> Style:
        return self._client._run(get_style(style_id))

    def upload(
        self,
        image: FileInput,
        *,
        name: str | None = None,
        title: str | None = None,
        artist: str | None = None,
        source_url: str | None = None,
        licence: str | None = None,
    ) -> Style:
        """Save a painting (name: the file's, unless given) to stylize with by its id, with the
        credit its results will carry (each optional)."""
        credit = {"title": title, "artist": artist, "source_url": source_url, "licence": licence}
        return self._client._run(upload_style(image, name, credit))

    def delete(self, style_id: str) -> None:
        """Jobs that used it keep their copy; a built-in one: PermissionDeniedError."""
        self._client._run(delete_style(style_id))

    def image(self, style_id: str) -> bytes:
        """The style's image (PNG)."""
        return self._client._run(style_image(style_id))


class AsyncStyles:
    """`client.styles` of an `AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self) -> list[Style]:
        return await self._client._run(list_styles())

    async def get(self, style_id: str) -> Style:
        return await self._client._run(get_style(style_id))

    async def upload(
        self,
        image: FileInput,
        *,
        name: str | None = None,
        title: str | None = None,
        artist: str | None = None,
        source_url: str | None = None,
        licence: str | None = None,
    ) -> Style:
        credit = {"title": title, "artist": artist, "source_url": source_url, "licence": licence}
        return await self._client._run(upload_style(image, name, credit))

    async def delete(self, style_id: str) -> None:
        await self._client._run(delete_style(style_id))

    async def image(self, style_id: str) -> bytes:
        return await self._client._run(style_image(style_id))
