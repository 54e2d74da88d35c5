"""One segment's H.264 MP4 writer.

Each segment has its own encoder: it starts on a key frame and is flushed at its end (a closed
GOP), so segments decode on their own and join by copying packets. Frames keep the source's
timestamps and time base. The picture is converted to BT.709 limited-range 4:2:0 and tagged so,
which browsers assume for HD video anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# x264's colour tags: 1 = BT.709 (primaries, transfer, matrix); range 1 = limited (MPEG).
BT709, LIMITED_RANGE = 1, 1


def exact_timestamps(*time_bases: Fraction) -> dict[str, str]:
    """The MP4 muxer's options that keep timestamps exact: the edit list that shifts a track
    (B-frames make the first decoding time negative) is written in the movie's time scale, 1/1000 s
    by default, which moved every frame by a tick or two; a scale that every track's time base
    divides keeps them where they were."""
    scale = math.lcm(*(t.denominator for t in time_bases if t.numerator == 1))
    if not 0 < scale < 2**31:
        return {}
    return {"movie_timescale": str(scale)}


@dataclass(frozen=True)
class Encoding:
    # x264's constant quality (lower is better; 18 is near transparent) and speed preset:
    # "veryfast" costs a small part of a frame's stylization (benchmarks/video.py).
    crf: int = 20
    preset: str = "veryfast"


class SegmentWriter:
    """Frames in, one MP4 file out; `close` flushes the encoder and finishes the file."""

    def __init__(
        self,
        path: str | Path,
        *,
        size: tuple[int, int],
        fps: Fraction,
        time_base: Fraction,
        encoding: Encoding = Encoding(),
    ) -> None:
        self._container = av.open(str(path), "w", format="mp4", options=exact_timestamps(time_base))
        stream = self._container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        context = stream.codec_context
        context.time_base = time_base
        context.colorspace = context.color_primaries = context.color_trc = BT709
        context.color_range = LIMITED_RANGE
        stream.options = {"crf": str(encoding.crf), "preset": encoding.preset}
        self._stream = stream
        self._time_base = time_base
        self.frames = 0

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """(H, W, 3) uint8 RGB at `pts` (in the time base given)."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709"
        )
        frame.pts = pts
        frame.time_base = self._time_base
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()

    def abandon(self) -> None:
        """Close without flushing: a cancelled or failed segment, about to be deleted."""
        self._container.close()
