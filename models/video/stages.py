"""Pipeline stages: a generator run in a thread of its own behind a bounded queue, and the time
each stage spends working.

Decoding, optical flow, stylization and encoding overlap this way, and the queue's length, not
the clip's, bounds the frames held in memory. Closing the consumer (an error, a cancel) stops the
producer at its next item and closes its generator in its own thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_END = object()


def threaded(items: Iterable[T], *, maxsize: int, name: str) -> Generator[T, None, None]:
    """Yield `items`, produced in a daemon thread at most `maxsize` ahead of the consumer;
    an exception in the producer is raised in the consumer."""
    slots: queue.Queue[object] = queue.Queue(maxsize)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as err:  # handed to the consumer, raised there
            put(_Failure(err))
        finally:
            if isinstance(items, Generator):
                items.close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


class StageTimes:
    """Seconds each named stage spent working (each stage writes only its own entry)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.frames: dict[str, int] = defaultdict(int)

    @contextmanager
    def timing(self, stage: str, frames: int = 1) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start
            self.frames[stage] += frames

    def timed(self, items: Iterable[T], stage: str) -> Iterator[T]:
        """`items` unchanged; the time spent producing each counts as `stage`'s."""
        iterator = iter(items)
        try:
            while True:
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self.seconds[stage] += time.perf_counter() - start
                self.frames[stage] += 1
                yield item
        finally:
            if isinstance(iterator, Generator):
                iterator.close()

    def fps(self, stage: str) -> float:
        """Frames per second of the stage's own working time."""
        seconds = self.seconds.get(stage, 0.0)
        return self.frames.get(stage, 0) / seconds if seconds else 0.0
