"""`Client`: the blocking client, resources on one object (`client.jobs`, `client.styles`,
`client.campaigns`, `client.videos`, `client.models`, `client.trainings`) and
`client.stylize(...)`.

    client = Client("http://127.0.0.1:8000", api_key="atl_...")
    job = client.stylize("photo.jpg", style="painting.png")
    job.save("stylized.png")
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TypeVar, Unpack

import httpx

from atelier_client import routes
from atelier_client.campaigns import Campaigns
from atelier_client.decoding import decode
from atelier_client.jobs import Job, Jobs, Progress
from atelier_client.options import FileInput, StyledRegion, StylizationOptions
from atelier_client.polling import DEFAULT_WAIT_S
from atelier_client.registry import Models, Trainings
from atelier_client.schemas import KeyInfo
from atelier_client.styles import Styles
from atelier_client.stylizations import stylize
from atelier_client.transport import Connection, Operation, call, request, run_sync
from atelier_client.videos import Videos

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0  # one HTTP exchange (uploads included); waits have their own


def whoami() -> Operation[KeyInfo]:
    response = yield from call(request(routes.WHOAMI))
    return decode(KeyInfo, response.json())


class Client(Connection):
    """A blocking client of one Atelier service.

    `base_url` and `api_key` default to ATELIER_URL and ATELIER_API_KEY. Connection errors,
    429 and 503 are retried `max_retries` times with back-off, after the service's
    Retry-After when it gives one; anything else the service refuses raises an `AtelierError`
    subclass at once. `http_client`: an httpx client of your own (proxies, certificates,
    event hooks); the client then leaves closing it to you.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 2,
        poll_interval: float = 0.5,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, api_key, max_retries, poll_interval)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self.jobs = Jobs(self)
        self.styles = Styles(self)
        self.campaigns = Campaigns(self)
        self.models = Models(self)
        self.trainings = Trainings(self)
        self.videos = Videos(self)

    def _run(self, op: Operation[T]) -> T:
        return run_sync(op, self._http, self.endpoint, self.retry_policy)

    def stylize(
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
        progress: Progress[Job] | None = None,
        **options: Unpack[StylizationOptions],
    ) -> Job:
        """Stylize the photo `content` (a path, bytes or a binary file) with one style: a
        painting `style`, a saved `style_id`, a style set or one image of a set.

        With `wait` (the default) the job comes back succeeded (`job.download()`,
        `job.save(path)`), or `JobFailedError` is raised; `progress(job)` sees each change on
        the way. Without, it comes back queued: `job.wait()` later. The submission carries
        `idempotency_key` (generated unless given), so a retried submit is the same job.

        `regions` paints parts of the photo in other styles or keeps them (`StyledRegion`s,
        at most 4, later ones win); a region's `mask` is an index into `masks` (images of any
        size, white = the region). `color_strength`, `texture_strength` and `stroke_scale`
        are among the options (see `StylizationOptions`).
        """
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
        return self._run(op)

    def whoami(self) -> KeyInfo:
        """The key in use: its name and whether it is an admin key."""
        return self._run(whoami())

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
