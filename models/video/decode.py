"""Source frames as RGB arrays, in presentation order, with their timestamps.

The output keeps the source's timestamps, so a variable frame rate survives; a frame without
one gets the time its index and the stream's rate give, and a timestamp that does not increase
is moved one tick after the previous (an encoder refuses it otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np

from models.video.errors import CorruptVideoError
from models.video.probe import VideoInfo, picture_stream


@dataclass(frozen=True)
class SourceFrame:
    index: int  # 0-based, in presentation order
    pts: int  # in VideoInfo.time_base
    rgb: np.ndarray | None  # (H, W, 3) uint8 at the output size; None for a frame skipped


def output_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) of the stylized clip: the source's, scaled down to `max_side` on its longer side
    if given, each side rounded down to even (H.264's 4:2:0 chroma needs even sides)."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    w, h = round(width * scale), round(height * scale)
    return max(2, w - w % 2), max(2, h - h % 2)


def decode_frames(
    path: str | Path,
    info: VideoInfo,
    size: tuple[int, int],
    *,
    convert_from: int = 0,
) -> Iterator[SourceFrame]:
    """Every frame of the clip at `size` (w, h); frames before `convert_from` come without
    pixels (a resumed job passes over them). CorruptVideoError where decoding stops."""
    index = -1
    ticks_per_frame = max(1, round(1 / (info.fps * info.time_base)))
    try:
        with av.open(str(path)) as container:
            stream = picture_stream(container)
            stream.thread_type = "AUTO"
            shrink = size[0] < info.width or size[1] < info.height
            last_pts: int | None = None
            for index, frame in enumerate(container.decode(stream)):
                if frame.pts is None:
                    pts = index * ticks_per_frame
                else:  # in the info's time base (the stream's, unless that is not 1/N)
                    pts = round(frame.pts * (stream.time_base or info.time_base) / info.time_base)
                if last_pts is not None and pts <= last_pts:
                    pts = last_pts + 1
                last_pts = pts
                rgb = None
                if index >= convert_from:
                    rgb = frame.to_ndarray(
                        format="rgb24",
                        width=size[0],
                        height=size[1],
                        interpolation="AREA" if shrink else None,
                    )
                yield SourceFrame(index, pts, rgb)
    except av.error.FFmpegError as err:
        raise CorruptVideoError(
            f"{path}: the video stops decoding at frame {index + 1} ({err})"
        ) from err


def first_frame(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a clip's first frame: a finished clip's poster."""
    with av.open(str(path)) as container:
        for frame in container.decode(picture_stream(container)):
            return frame.to_ndarray(format="rgb24")
    raise CorruptVideoError(f"{path}: no frame decodes")
