"""`AsyncClient`: `Client` for asyncio, every call awaited; the operations, retries and errors
are the same code (see `transport`), only the sending and the sleeping differ.

    async with AsyncClient("http://127.0.0.1:8000", api_key="atl_...") as client:
        job = await client.stylize("photo.jpg", style="painting.png")
        await job.save("stylized.png")
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TypeVar, Unpack

import httpx

from atelier_client.campaigns import AsyncCampaigns
from atelier_client.client import DEFAULT_TIMEOUT_S, whoami
from atelier_client.jobs import AsyncJob, AsyncJobs, Progress
from atelier_client.options import FileInput, StyledRegion, StylizationOptions
from atelier_client.polling import DEFAULT_WAIT_S
from atelier_client.registry import AsyncModels, AsyncTrainings
from atelier_client.schemas import KeyInfo
from atelier_client.styles import AsyncStyles
from atelier_client.stylizations import stylize
from atelier_client.transport import Connection, Operation, run_async
from atelier_client.videos import AsyncVideos

T = TypeVar("T")


class AsyncClient(Connection):
    """An asyncio client of one Atelier service (see `Client` for the arguments)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 2,
        poll_interval: float = 0.5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(base_url, api_key, max_retries, poll_interval)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        self.jobs = AsyncJobs(self)
        self.styles = AsyncStyles(self)
        self.campaigns = AsyncCampaigns(self)
        self.models = AsyncModels(self)
        self.trainings = AsyncTrainings(self)
        self.videos = AsyncVideos(self)

    async def _run(self, op: Operation[T]) -> T:
        return await run_async(op, self._http, self.endpoint, self.retry_policy)

    async def stylize(
        self,
        content: FileInput,
        style: FileInput | None = None,
        *,
        style_id: str | None = None,
        style_set_id: str | None = None,
        style_set_image_id: str | None = None,
        mask: FileInput | None = None,
        regions: Sequence[StyledRegion] | None = None,
        masks: Sequence[FileInput] = (),
        idempotency_key: str | None = None,
        wait: bool = True,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress[AsyncJob] | None = None,
        **options: Unpack[StylizationOptions],
    ) -> AsyncJob:
        """As `Client.stylize`, awaited."""
        op = stylize(
            content=content,
            style=style,
            mask=mask,
            masks=masks,
            fields={
                "style_id": style_id,
                "style_set_id": style_set_id,
                "style_set_image_id": style_set_image_id,
                "regions": list(regions) if regions is not None else None,
                **options,
            },
            idempotency_key=idempotency_key,
            wait=wait,
            timeout=timeout,
            poll_interval=self.poll_interval,
            progress=progress,
            as_job=self.jobs.as_job,
        )
        return await self._run(op)

    async def whoami(self) -> KeyInfo:
        return await self._run(whoami())

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
