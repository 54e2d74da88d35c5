"""Jobs: read, list, wait with a progress callback, cancel, download the result (and a video
job's poster).

The operations are written once (generators, see `transport`); `Jobs` and `AsyncJobs` run them
on the blocking and the asyncio client, and `Job` / `AsyncJob` are a job bound to its client
so that `job.wait()`, `job.download()` and `job.save(path)` need nothing else.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from atelier_client import routes
from atelier_client.decoding import decode
from atelier_client.polling import DEFAULT_WAIT_S, wait_until_finished
from atelier_client.schemas import JobKind, JobPage, JobSnapshot, JobStatus
from atelier_client.transport import Operation, call, download_to, request

if TYPE_CHECKING:
    from atelier_client.async_client import AsyncClient
    from atelier_client.client import Client

J = TypeVar("J", bound=JobSnapshot)
Progress = Callable[[J], None]


# --- the operations, shared by both clients -----------------------------------------------------


def get_job(job_id: str, as_job: Callable[[Any], J]) -> Operation[J]:
    response = yield from call(request(routes.GET_JOB, ids={"job_id": job_id}))
    return as_job(response.json())


def list_jobs(
    as_job: Callable[[Any], J],
    status: JobStatus | None,
    kind: JobKind | None,
    cursor: str | None,
    limit: int,
) -> Operation[JobPage[J]]:
    query = {"status": status, "kind": kind, "cursor": cursor, "limit": limit}
    response = yield from call(request(routes.LIST_JOBS, query=query))
    body = response.json()
    return JobPage(data=[as_job(item) for item in body["data"]], next_cursor=body["next_cursor"])


def cancel_job(job_id: str, as_job: Callable[[Any], J]) -> Operation[J]:
    response = yield from call(request(routes.CANCEL_JOB, ids={"job_id": job_id}))
    return as_job(response.json())


def delete_job_files(job_id: str, as_job: Callable[[Any], J]) -> Operation[J]:
    response = yield from call(request(routes.DELETE_JOB_FILES, ids={"job_id": job_id}))
    return as_job(response.json())


def download_result(job_id: str) -> Operation[bytes]:
    response = yield from call(request(routes.JOB_RESULT, ids={"job_id": job_id}))
    return response.content


def job_poster(job_id: str) -> Operation[bytes]:
    response = yield from call(request(routes.JOB_POSTER, ids={"job_id": job_id}))
    return response.content


def wait_job(
    job_id: str,
    as_job: Callable[[Any], J],
    timeout: float | None,
    poll_interval: float,
    progress: Progress[J] | None,
) -> Operation[J]:
    return wait_until_finished(
        lambda: get_job(job_id, as_job), f"job {job_id}", timeout, poll_interval, progress
    )


def save_result(job_id: str, path: str | os.PathLike[str]) -> Operation[Path]:
    return download_to(routes.JOB_RESULT, {"job_id": job_id}, path)


def save_poster(job_id: str, path: str | os.PathLike[str]) -> Operation[Path]:
    return download_to(routes.JOB_POSTER, {"job_id": job_id}, path)


# --- a job bound to its client ------------------------------------------------------------------


class Job(JobSnapshot):
    """A job read through a `Client`: its fields, and what can be done with it."""

    _client: Client

    def refresh(self) -> Job:
        """The job as it is now."""
        return self._client.jobs.get(self.id)

    def wait(
        self, timeout: float | None = DEFAULT_WAIT_S, progress: Progress[Job] | None = None
    ) -> Job:
        """Until it finishes (see `Jobs.wait`)."""
        return self._client.jobs.wait(self.id, timeout=timeout, progress=progress)

    def cancel(self) -> Job:
        return self._client.jobs.cancel(self.id)

    def download(self) -> bytes:
        """The stylized image's bytes, a video job's MP4 (409 `job_not_succeeded` unless it
        succeeded)."""
        return self._client.jobs.download(self.id)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Download the result into `path` (the format is the job's `output_format`; a video
        job's is an MP4), streamed to disk: see `Jobs.save`."""
        return self._client.jobs.save(self.id, path)

    def download_poster(self) -> bytes:
        """A succeeded video job's poster, its result's first frame (JPEG); 409 `no_poster`
        for any other job."""
        return self._client.jobs.download_poster(self.id)

    def save_poster(self, path: str | os.PathLike[str]) -> Path:
        return self._client.jobs.save_poster(self.id, path)


class AsyncJob(JobSnapshot):
    """A job read through an `AsyncClient`: `await job.wait()`, `await job.download()`."""

    _client: AsyncClient

    async def refresh(self) -> AsyncJob:
        return await self._client.jobs.get(self.id)

    async def wait(
        self, timeout: float | None = DEFAULT_WAIT_S, progress: Progress[AsyncJob] | None = None
    ) -> AsyncJob:
        return await self._client.jobs.wait(self.id, timeout=timeout, progress=progress)

    async def cancel(self) -> AsyncJob:
        return await self._client.jobs.cancel(self.id)

    async def download(self) -> bytes:
        return await self._client.jobs.download(self.id)

    async def save(self, path: str | os.PathLike[str]) -> Path:
        return await self._client.jobs.save(self.id, path)

    async def download_poster(self) -> bytes:
        return await self._client.jobs.download_poster(self.id)

    async def save_poster(self, path: str | os.PathLike[str]) -> Path:
        return await self._client.jobs.save_poster(self.id, path)


B = TypeVar("B", Job, AsyncJob)


def bind(kind: type[B], client: Any) -> Callable[[Any], B]:
    """A decoder of job bodies into `kind`, bound to `client`."""

    def as_job(data: Any) -> B:
        job = decode(kind, data)
        object.__setattr__(job, "_client", client)  # frozen: set once, here
        return job

    return as_job


# --- the resources ------------------------------------------------------------------------------


class Jobs:
    """`client.jobs`: your jobs (stylizations, videos, and trainings for admins)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.as_job = bind(Job, client)

    def get(self, job_id: str) -> Job:
        return self._client._run(get_job(job_id, self.as_job))

    def list(
        self,
        *,
        status: JobStatus | None = None,
        kind: JobKind | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> JobPage[Job]:
        """One page, newest first; `next_cursor` gives the next (see `iterate` for all)."""
        return self._client._run(list_jobs(self.as_job, status, kind, cursor, limit))

    def iterate(
        self, *, status: JobStatus | None = None, kind: JobKind | None = None
    ) -> Iterator[Job]:
        """Every job, newest first, a page at a time."""
        cursor: str | None = None
        while True:
            page = self.list(status=status, kind=kind, cursor=cursor, limit=100)
            yield from page.data
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def cancel(self, job_id: str) -> Job:
        """A queued job never runs; a running one stops at its next progress check (the
        answer says `cancel_requested`; `wait` sees it end `canceled`)."""
        return self._client._run(cancel_job(job_id, self.as_job))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress[Job] | None = None,
    ) -> Job:
        """Poll until the job finishes (any final status: check `.status`); `progress(job)`
        is called each time its status or percent changes."""
        op = wait_job(job_id, self.as_job, timeout, self._client.poll_interval, progress)
        return self._client._run(op)

    def download(self, job_id: str) -> bytes:
        """The result: an image, or a video job's MP4."""
        return self._client._run(download_result(job_id))

    def save(self, job_id: str, path: str | os.PathLike[str]) -> Path:
        """The result written to `path`, streamed to disk a chunk at a time (a video's MP4 is
        never held in memory): `path` is replaced only once the whole body arrived, and a
        failure (retried as any other) leaves neither it nor a partial file behind."""
        return self._client._run(save_result(job_id, path))

    def download_poster(self, job_id: str) -> bytes:
        """A succeeded video job's poster (JPEG): ConflictError `no_poster` otherwise."""
        return self._client._run(job_poster(job_id))

    def save_poster(self, job_id: str, path: str | os.PathLike[str]) -> Path:
        return self._client._run(save_poster(job_id, path))

    def delete_files(self, job_id: str) -> Job:
        """Delete a finished job's uploads and result now; the job stays, `expired`."""
        return self._client._run(delete_job_files(job_id, self.as_job))


class AsyncJobs:
    """`client.jobs` of an `AsyncClient`: as `Jobs`, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self.as_job = bind(AsyncJob, client)

    async def get(self, job_id: str) -> AsyncJob:
        return await self._client._run(get_job(job_id, self.as_job))

    async def list(
        self,
        *,
        status: JobStatus | None = None,
        kind: JobKind | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> JobPage[AsyncJob]:
        return await self._client._run(list_jobs(self.as_job, status, kind, cursor, limit))

    async def iterate(
        self, *, status: JobStatus | None = None, kind: JobKind | None = None
    ) -> AsyncIterator[AsyncJob]:
        cursor: str | None = None
        while True:
            page = await self.list(status=status, kind=kind, cursor=cursor, limit=100)
            for job in page.data:
                yield job
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def cancel(self, job_id: str) -> AsyncJob:
        return await self._client._run(cancel_job(job_id, self.as_job))

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_S,
        progress: Progress[AsyncJob] | None = None,
    ) -> AsyncJob:
        op = wait_job(job_id, self.as_job, timeout, self._client.poll_interval, progress)
        return await self._client._run(op)

    async def download(self, job_id: str) -> bytes:
        return await self._client._run(download_result(job_id))

    async def save(self, job_id: str, path: str | os.PathLike[str]) -> Path:
        return await self._client._run(save_result(job_id, path))

    async def download_poster(self, job_id: str) -> bytes:
        return await self._client._run(job_poster(job_id))

    async def save_poster(self, job_id: str, path: str | os.PathLike[str]) -> Path:
        return await self._client._run(save_poster(job_id, path))

    async def delete_files(self, job_id: str) -> AsyncJob:
        return await self._client._run(delete_job_files(job_id, self.as_job))
