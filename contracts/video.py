"""Video clips: the limits a clip is checked against, the errors it can raise with their codes,
and the length of the segments a stylized clip is written in.

The API, the worker and `atelier stylize-video` read these; `contracts.video_probe` and
`models.video` raise the errors, and the API answers each with its code and status.
"""

from __future__ import annotations

# The limits' defaults (the service's settings ATELIER_VIDEO_MAX_SECONDS, ATELIER_VIDEO_MAX_SIDE
# and ATELIER_VIDEO_MAX_BYTES start from these).
VIDEO_MAX_SECONDS = 60.0
VIDEO_MAX_SIDE = 1920
VIDEO_MAX_BYTES = 200_000_000

# About this many seconds of output per segment: a killed job loses at most one segment's work,
# and a cancel never waits longer than one segment takes.
SEGMENT_SECONDS = 2.0

# Temporal stability: the weight of the previous frame's result, carried along the motion, on
# each frame (0 = frame by frame; the default depends on the frame size, models.video.stability).
# Above the maximum the picture freezes and blurs.
STABILITY_MAX = 0.95

# Error codes, each with the HTTP status the API answers it with.
NOT_A_VIDEO = "not_a_video"  # no container FFmpeg can read, or a still image
NO_VIDEO_STREAM = "no_video_stream"  # a readable file with no picture (audio only, cover art)
VIDEO_TOO_LONG = "video_too_long"
VIDEO_TOO_LARGE = "video_too_large"  # a side over the limit
CORRUPT_VIDEO = "corrupt_video"  # a stream that stops decoding, at the start or mid-way

VIDEO_ERROR_STATUS = {
    NOT_A_VIDEO: 415,
    NO_VIDEO_STREAM: 422,
    VIDEO_TOO_LONG: 413,
    VIDEO_TOO_LARGE: 413,
    CORRUPT_VIDEO: 422,
}


class VideoError(ValueError):
    """A clip that cannot be stylized; `code` says why.

    ValueErrors (bad input, not a bug) carrying the code the API answers with and the CLI
    prints, so that no layer needs to parse a message."""

    code = "video_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotAVideoError(VideoError):
    code = NOT_A_VIDEO


class NoVideoStreamError(VideoError):
    code = NO_VIDEO_STREAM


class VideoTooLongError(VideoError):
    code = VIDEO_TOO_LONG


class VideoTooLargeError(VideoError):
    code = VIDEO_TOO_LARGE


class CorruptVideoError(VideoError):
    code = CORRUPT_VIDEO
