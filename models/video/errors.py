"""Why a clip is refused: the `VideoError` classes, each with a machine-readable code. They live
in `contracts.video`, where the API (which never imports `models`) catches them too."""

from contracts.video import (
    CorruptVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoError,
    VideoTooLargeError,
    VideoTooLongError,
)

__all__ = [
    "CorruptVideoError",
    "NoVideoStreamError",
    "NotAVideoError",
    "VideoError",
    "VideoTooLargeError",
    "VideoTooLongError",
]
