"""Finished segments and where they are kept while a clip is stylized.

A clip is written as segments of about `contracts.video.SEGMENT_SECONDS` each (frame ranges
fixed by the clip's rate, so a resumed job cuts the same ranges). Each finished segment is an MP4
of its own, handed to a `SegmentSink` with its *carry*: the last frame's result, losslessly,
which the next segment's first frame is blended with, and where the grid lock had the scene
(models/video/grid_lock.py). A job that dies resumes at the sink's
first unfinished segment and produces the same frames as one that never stopped.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

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


# The PNG text chunk that holds the grid lock's origin ("x y", output pixels).
ORIGIN_KEY = "atelier-grid-origin"


@dataclass(frozen=True)
class Carry:
    """What the next segment starts from."""

    rgb: np.ndarray  # (H, W, 3) uint8: the stabiliser's state after the segment's last frame
    origin: tuple[float, float] = (0.0, 0.0)  # the grid lock's, at that frame


def encode_carry(carry: Carry) -> bytes:
    """A PNG (lossless: a resumed job blends with the very pixels), the origin in a text chunk."""
    info = PngInfo()
    info.add_text(ORIGIN_KEY, " ".join(repr(float(v)) for v in carry.origin))
    buffer = io.BytesIO()
    Image.fromarray(carry.rgb).save(buffer, "PNG", pnginfo=info, compress_level=1)
    return buffer.getvalue()


def decode_carry(data: bytes) -> Carry:
    try:
        image = Image.open(io.BytesIO(data))
        rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise ValueError("the stored carry is not a PNG") from exc
    text = getattr(image, "text", {}).get(ORIGIN_KEY)
    if text is None:  # a carry saved before the grid lock: the origin restarts there
        return Carry(rgb)
    x, y = (float(part) for part in text.split())
    return Carry(rgb, (x, y))


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
