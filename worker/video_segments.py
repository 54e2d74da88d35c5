"""A video job's finished segments, kept in the service's storage (a folder or S3) and named in
the job's row, so that a worker that dies mid-clip leaves them for the next one to resume from.

`models.video`'s pipeline hands each finished segment (an MP4 of about two seconds) and its
*carry* (the last frame's result, a PNG) to this sink. Both go to storage first; then one write
of the job's `progress_info` names them: a segment is counted only once that write is committed,
so a worker killed between the two leaves at worst an unnamed file, never a named half one. The
job's row is the truth, as for every other part of a job's run (worker.jobs).

Storage is content-addressed, and two jobs on the same clip, style and options would write the
very same segments: each stored segment starts with its job's id, so that one job removing its
segments never removes another's.
"""

import io
import time
from typing import Any, BinaryIO

from app.tables import Job
from worker.jobs import Progress
from worker.runtime import Runtime


class StoredSegments:
    """The pipeline's `SegmentSink` on the service's storage, with the job's progress."""

    def __init__(self, rt: Runtime, job: Job, progress: Progress, frames: int) -> None:
        self.rt, self.progress, self.frames = rt, progress, frames
        self.tag = f"atelier segment of job {job.id}\n".encode()
        # A resumed job: the segments an earlier run named, up to the first one missing.
        self.segments: list[dict[str, str]] = []
        for named in (job.progress_info or {}).get("segments", []):
            if not rt.storage.exists(named["video"]):
                break
            self.segments.append(named)
        self.carry_key: str | None = (job.progress_info or {}).get("carry")
        self.frames_done = 0
        self.resumed_frames: int | None = None
        self.began = time.monotonic()

    # -- SegmentSink --------------------------------------------------------------------------
    def finished(self) -> int:
        return len(self.segments)

    def save(self, index: int, video: Any, carry: bytes) -> None:
        if index != len(self.segments):  # the pipeline writes them in order, from finished()
            raise RuntimeError(f"segment {index} saved after {len(self.segments)} segments")
        segment = {"video": self._put(video.read_bytes())}
        previous_carry = self.carry_key
        self.carry_key = self._put(carry)
        self.segments.append(segment)
        self.report(force=True)  # names the segment: from now on it counts
        if previous_carry is not None and previous_carry != self.carry_key:
            self.rt.storage.delete(previous_carry)

    def carry(self, index: int) -> bytes:
        if self.carry_key is None or index != len(self.segments) - 1:
            raise RuntimeError(f"no carry kept for segment {index}")
        return self._get(self.carry_key)

    def open(self, index: int) -> BinaryIO:
        return io.BytesIO(self._get(self.segments[index]["video"]))

    def _put(self, data: bytes) -> str:
        return self.rt.storage.put(self.tag + data)

    def _get(self, key: str) -> bytes:
        data = self.rt.storage.get(key)
        if not data.startswith(self.tag):
            raise RuntimeError(f"stored segment {key} is not this job's")
        return data[len(self.tag) :]

    # -- the job's progress -------------------------------------------------------------------
    def on_frame(self, done: int, total: int) -> None:
        """The pipeline's progress callback: frames done of all (a resumed run starts past 0)."""
        if self.resumed_frames is None:
            self.resumed_frames = done - 1
            self.began = time.monotonic()
        self.frames_done = done
        self.report()

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "frames_done": self.frames_done,
            "frames": self.frames,
            "segments": self.segments,
            "carry": self.carry_key,
        }
        written = self.frames_done - (self.resumed_frames or 0)
        elapsed = time.monotonic() - self.began
        if written > 0 and elapsed > 0:
            # This run's own rate: a resumed job's elapsed time since its first start misleads.
            info["eta_s"] = round((self.frames - self.frames_done) * elapsed / written, 1)
        return info

    def report(self, *, force: bool = False) -> None:
        """Record progress (throttled unless `force`); raises JobCanceled on a cancel."""
        self.progress(min(1.0, self.frames_done / max(1, self.frames)), self.info(), force=force)

    def clear(self) -> None:
        """Delete the segments and the carry (the job is done, failed or canceled)."""
        for key in {s["video"] for s in self.segments} | {self.carry_key}:
            if key is not None:
                self.rt.storage.delete(key)
        self.segments, self.carry_key = [], None
