"""Finished segments and where they are kept while a clip is stylized.

A clip is written as segments of about `contracts.video.SEGMENT_SECONDS` each (frame ranges
fixed by the clip's rate, so a resumed job cuts the same ranges). Each finished segment is an MP4
of its own, handed to a `SegmentSink` with its *carry*: the last frame's result, losslessly,
which the next segment's first frame is blended with. A job that dies resumes at the sink's
first unfinished segment and produces the same frames as one that never stopped.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import cv2
import numpy as np

from contracts.video import SEGMENT_SECONDS
from models.video.probe import VideoInfo


class SegmentSink(Protocol):
    """Keeps finished segments: a folder here, the service's storage in a worker.

    `save` must make a segment and its carry visible together, or not at all (write, then
    rename), so that `finished` never counts a half-stored segment.
    """

    def finished(self) -> int:
        """How many segments, counted from the first without a gap, are stored."""
        ...

    def save(self, index: int, video: Path, carry: bytes) -> None:
        """Store segment `index` (the MP4 at `video`, which the caller deletes afterwards) and
        the carry the next segment starts from."""
        ...

    def carry(self, index: int) -> bytes:
        """The carry saved with segment `index`."""
        ...

    def open(self, index: int) -> BinaryIO:
        """Segment `index`'s MP4, readable and seekable, for joining."""
        ...


@dataclass(frozen=True)
class SegmentPlan:
    """Which frames each segment holds: `frames_per_segment` each, the last one the rest."""

    frames_per_segment: int
    frames: int

    @classmethod
    def for_clip(cls, info: VideoInfo, seconds: float = SEGMENT_SECONDS) -> SegmentPlan:
        return cls(max(1, round(seconds * float(info.fps))), info.frames)

    @property
    def segments(self) -> int:
        return -(-self.frames // self.frames_per_segment)

    def segment_of(self, frame: int) -> int:
        return frame // self.frames_per_segment

    def first_frame(self, segment: int) -> int:
        return segment * self.frames_per_segment


def encode_carry(rgb: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG bytes (lossless: a resumed job blends with the very pixels)."""
    ok, data = cv2.imencode(
        ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]
    )
    if not ok:
        raise RuntimeError("PNG encoding of the carry failed")
    return data.tobytes()


def decode_carry(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("the stored carry is not a PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class DirectorySink:
    """Segments as files in one folder: `segment-00003.mp4`, and the latest `carry-00003.png`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _video(self, index: int) -> Path:
        return self.root / f"segment-{index:05d}.mp4"

    def _carry(self, index: int) -> Path:
        return self.root / f"carry-{index:05d}.png"

    def finished(self) -> int:
        count = 0
        while self._video(count).is_file():
            count += 1
        return count

    def save(self, index: int, video: Path, carry: bytes) -> None:
        # The carry first: a segment is counted once its video is there, and then its carry is.
        partial = self._carry(index).with_suffix(".part")
        partial.write_bytes(carry)
        os.replace(partial, self._carry(index))
        partial = self._video(index).with_suffix(".part")
        shutil.copyfile(video, partial)
        os.replace(partial, self._video(index))
        if index > 0:
            self._carry(index - 1).unlink(missing_ok=True)

    def carry(self, index: int) -> bytes:
        return self._carry(index).read_bytes()

    def open(self, index: int) -> BinaryIO:
        return self._video(index).open("rb")

    def clear(self) -> None:
        """Remove the folder and everything in it (the job is done, failed or cancelled)."""
        shutil.rmtree(self.root, ignore_errors=True)
