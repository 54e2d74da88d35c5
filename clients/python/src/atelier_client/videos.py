"""Videos: `POST /v1/videos`, a clip and one style in, a job of kind "video" out, on the stills'
job machinery (Idempotency-Key, `Prefer: wait`, progress, cancel, webhooks).

    job = client.videos.create("clip.mp4", style_id=starry_night).wait()
    job.save("stylized.mp4")  # H.264, the clip's frame rate, its sound copied
    job.save_poster("poster.jpg")  # the result's first frame

The clip is streamed from its file as it is sent, never read whole into memory (see
`options.streamed_part`); the service refuses a bad one before storing anything, with its
code: `not_a_video` (415), `no_video_stream` and `corrupt_video` (422), `video_too_long` and
`video_too_large` (413).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from atelier_client import routes
from atelier_client.jobs import AsyncJob, Job, Progress
from atelier_client.options import FileInput, VideoOptions, form_fields, streamed_part
from atelier_client.polling import DEFAULT_WAIT_S
from atelier_client.schemas import JobSnapshot
from atelier_client.stylizations import image_parts, submit_job
from atelier_client.transport import Operation

if TYPE_CHECKING:
    from atelier_client.async_client import AsyncClient
    from atelier_client.client import Client

J = TypeVar("J", bound=JobSnapshot)


def create_video(
    *,
    video: FileInput,
    style: FileInput | None,
    fields: Mapping[str, object],
    idempotency_key: str | None,
    wait: bool,
    timeout: float | None,
    poll_interval: float,
    progress: Progress[J] | None,
    as_job: Callable[[Any], J],
) -> Operation[J]:
    """Submit a video job; with `wait`, return it succeeded (JobFailedError otherwise). A clip
    given as a path is open while the operation runs, closed when it ends, however it ends."""
    with streamed_part(video, "clip") as clip:
        return (
            yield from submit_job(
                routes.CREATE_VIDEO,
                form=form_fields(fields),
                files=[("video", clip), *image_parts(style=style)],
                idempotency_key=idempotency_key,
                wait=wait,
                timeout=timeout,
                poll_interval=poll_interval,
                progress=progress,
                as_job=as_job,
            )
        )


class Videos:
    """`client.videos`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        video: FileInput,
        style: FileInput | None = None,
        *,
        style_id: str | None = None,
        idempotency_key: str | None = None,
        wait: bool = False,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress[Job] | None = None,
        **options: Unpack[VideoOptions],
    ) -> Job:
        """Stylize the clip `video` (a path, bytes or a binary file; a path or a seekable
        file is streamed) with a painting `style` or a saved `style_id` (one of the two).

        It comes back queued, as `campaigns.create` and `trainings.create` do: `job.wait()`,
        then `job.save("out.mp4")` and `job.save_poster("poster.jpg")`. With `wait`, it comes
        back succeeded (or `JobFailedError` is raised), as `client.stylize` does (mind
        `timeout`: a second of footage is many frames). The submission carries
        `idempotency_key` (generated unless given), so a retried submit is the same job.
        `strength`, `stability`, `max_side` and `keep_boxes` are among the options (see
        `VideoOptions`).
        """
        op = create_video(
            video=video,
            style=style,
            fields={"style_id": style_id, **options},
            idempotency_key=idempotency_key,
            wait=wait,
            timeout=timeout,
            poll_interval=self._client.poll_interval,
            progress=progress,
            as_job=self._client.jobs.as_job,
        )
        return self._client._run(op)


class AsyncVideos:
    """`client.videos` of an `AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        video: FileInput,
        style: FileInput | None = None,
        *,
        style_id: str | None = None,
        idempotency_key: str | None = None,
        wait: bool = False,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress[AsyncJob] | None = None,
        **options: Unpack[VideoOptions],
    ) -> AsyncJob:
        """As `Videos.create`, awaited (the clip's file is read as it is sent, in the event
        loop's thread, as httpx reads any file part)."""
        op = create_video(
            video=video,
            style=style,
            fields={"style_id": style_id, **options},
            idempotency_key=idempotency_key,
            wait=wait,
            timeout=timeout,
            poll_interval=self._client.poll_interval,
            progress=progress,
            as_job=self._client.jobs.as_job,
        )
        return await self._client._run(op)
