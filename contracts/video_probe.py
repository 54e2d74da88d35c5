"""What a clip holds, read with PyAV and checked against the limits before any work.

Torch-free (PyAV only, imported when a clip is probed), so that whatever receives an upload can
refuse a bad clip at once: the API before it stores anything, the worker and the CLI before they
decode; `models.video.probe` re-exports it. The
frame count is the number of video packets (one per frame for every codec a browser plays),
counted by demuxing without decoding; the duration is the video stream's own, from its first
timestamp to the end of its last frame. The first frame is decoded, so that a codec FFmpeg
cannot decode is refused here, not after an upload is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.video import (
    VIDEO_MAX_SECONDS,
    VIDEO_MAX_SIDE,
    CorruptVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoTooLargeError,
    VideoTooLongError,
)

if TYPE_CHECKING:
    import av


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction  # the stream's average frame rate
    time_base: Fraction  # the unit of the output's timestamps: 1/N, the source's when it is so
    duration: float  # seconds of video
    frames: int
    has_audio: bool
    video_codec: str
    audio_codec: str | None
    container: str  # FFmpeg's demuxer name
    rotation: int  # degrees a player turns the picture (phone clips), 0 mostly

    @property
    def seconds_per_frame(self) -> float:
        return float(1 / self.fps)


def _is_still_image(container: av.container.InputContainer) -> bool:
    # FFmpeg opens a PNG, JPEG or WebP as a one-frame "video" through these demuxers.
    name = container.format.name
    return name == "image2" or name.endswith("_pipe")


def _is_picture_stream(stream: av.VideoStream) -> bool:
    import av

    return not bool(stream.disposition & av.stream.Disposition.attached_pic)


def picture_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The clip's first video stream that is a moving picture (not a cover image)."""
    for stream in container.streams.video:
        if _is_picture_stream(stream):
            return stream
    raise NoVideoStreamError("no video stream")


def probe(
    path: str | Path,
    *,
    max_seconds: float | None = VIDEO_MAX_SECONDS,
    max_side: int | None = VIDEO_MAX_SIDE,
) -> VideoInfo:
    """Describe the clip at `path`, or raise the VideoError that says why it cannot be used.
    A limit of None is not checked."""
    import av
    import av.error

    path = Path(path)
    if not path.is_file():
        raise NotAVideoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise NotAVideoError(f"{path}: empty file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise NotAVideoError(f"{path}: not a video FFmpeg can read ({err})") from err
    with container:
        if _is_still_image(container):
            raise NotAVideoError(f"{path}: a still image ({container.format.name}), not a video")
        try:
            stream = picture_stream(container)
        except NoVideoStreamError:
            raise NoVideoStreamError(f"{path}: no video stream") from None
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise CorruptVideoError(f"{path}: the video stream has no picture size")
        if max_side is not None and max(width, height) > max_side:
            raise VideoTooLargeError(
                f"{path}: {width}x{height}, a side over the {max_side} px allowed"
            )
        header_seconds = container.duration / av.time_base if container.duration else None
        if max_seconds is not None and header_seconds and header_seconds > max_seconds + 0.5:
            raise VideoTooLongError(
                f"{path}: lasts {header_seconds:.1f} s, more than the {max_seconds:g} s allowed"
            )
        audio = container.streams.audio[0] if container.streams.audio else None
        frames, duration = _count_frames(path, container, stream)
        if frames == 0:
            raise CorruptVideoError(f"{path}: the video stream holds no frame")
        if max_seconds is not None and duration > max_seconds + 0.5:
            raise VideoTooLongError(
                f"{path}: lasts {duration:.1f} s, more than the {max_seconds:g} s allowed"
            )
        fps = stream.average_rate or stream.guessed_rate
        if not fps:  # no rate in the container: the mean one
            fps = (Fraction(frames) / Fraction(max(duration, 1e-3))).limit_denominator(1001)
        rotation = _first_frame_rotation(path, container, stream)
        return VideoInfo(
            width=width,
            height=height,
            fps=Fraction(fps),
            time_base=_tick(stream.time_base),
            duration=duration,
            frames=frames,
            has_audio=audio is not None,
            video_codec=stream.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            container=container.format.name,
            rotation=rotation,
        )


def _tick(time_base: Fraction | None) -> Fraction:
    """The stream's time base when it is 1/N (MP4, WebM, MPEG-TS), else 1/90000 s: the
    encoder and the MP4 muxer keep a 1/N time base exactly."""
    if time_base and time_base.numerator == 1:
        return Fraction(time_base)
    return Fraction(1, 90000)


def _count_frames(
    path: Path, container: av.container.InputContainer, stream: av.VideoStream
) -> tuple[int, float]:
    """(video packets, seconds from the first timestamp to the end of the last frame)."""
    import av.error

    frames = 0
    first: int | None = None
    end: int | None = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            frames += 1
            if packet.pts is not None:
                first = packet.pts if first is None else min(first, packet.pts)
                last_end = packet.pts + (packet.duration or 0)
                end = last_end if end is None else max(end, last_end)
    except av.error.FFmpegError as err:
        raise CorruptVideoError(f"{path}: unreadable after {frames} frames ({err})") from err
    if first is not None and end is not None and stream.time_base:
        return frames, float((end - first) * stream.time_base)
    fps = stream.average_rate or stream.guessed_rate
    return frames, float(frames / fps) if fps else 0.0


def _first_frame_rotation(
    path: Path, container: av.container.InputContainer, stream: av.VideoStream
) -> int:
    """Decode the first frame (a codec FFmpeg lacks, or a broken start, fails here) and return
    the rotation a player applies to it."""
    import av.error

    try:
        container.seek(0, stream=stream)
        for frame in container.decode(stream):
            return int(frame.rotation or 0)
    except av.error.FFmpegError as err:
        raise CorruptVideoError(f"{path}: the first frame does not decode ({err})") from err
    raise CorruptVideoError(f"{path}: no frame decodes")
