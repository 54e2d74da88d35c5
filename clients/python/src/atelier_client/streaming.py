"""Sending a request whose answer goes to a file, for the runners in `transport`.

A result can be a video job's MP4 of hundreds of MB, so `Request(stream_to=path)` is answered
by writing the body to `.<name>.part` beside `path` a chunk at a time, then renaming it into
place (the same directory, so the rename is atomic and `path` is either untouched or whole).
On any error, a connection dropped mid-body included, the partial file is deleted before the
error goes on (to the retry rule, which may send the request again from the start). An error
answer (not 2xx) is read whole as any other, so that its `code` can be read from its body.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

CHUNK_BYTES = 1 << 20  # what is held in memory at once


def part_path(target: Path) -> Path:
    """Where `target` is written until it is whole: hidden, beside it."""
    return target.with_name(f".{target.name}.part")


def send(http: httpx.Client, request: httpx.Request, stream_to: Path | None) -> httpx.Response:
    """`http.send(request)`, the body written to `stream_to` when one is given and the
    answer is a success (the response returned then is closed, its body not kept)."""
    if stream_to is None:
        return http.send(request)
    response = http.send(request, stream=True)
    try:
        if not response.is_success:
            response.read()
            return response
        part = part_path(stream_to)
        try:
            with part.open("wb") as file:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    file.write(chunk)
            part.replace(stream_to)
        except BaseException:  # KeyboardInterrupt too: no partial file is left behind
            part.unlink(missing_ok=True)
            raise
        return response
    finally:
        response.close()


async def send_async(
    http: httpx.AsyncClient, request: httpx.Request, stream_to: Path | None
) -> httpx.Response:
    """As `send`, on an asyncio client; the writes run in a thread, off the event loop."""
    if stream_to is None:
        return await http.send(request)
    response = await http.send(request, stream=True)
    try:
        if not response.is_success:
            await response.aread()
            return response
        part = part_path(stream_to)
        try:
            with part.open("wb") as file:
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    await asyncio.to_thread(file.write, chunk)
            part.replace(stream_to)
        except BaseException:  # a cancelled task too
            part.unlink(missing_ok=True)
            raise
        return response
    finally:
        await response.aclose()
