"""Why a clip is refused: one exception class per reason, each with a machine-readable code.

They are ValueErrors (bad input, not a bug), and carry the code from `contracts.video` that the
API answers with and that the CLI prints, so that no layer needs to parse a message.
"""

from __future__ import annotations

from contracts.video import (
    CORRUPT_VIDEO,
    NO_VIDEO_STREAM,
    NOT_A_VIDEO,
    VIDEO_TOO_LARGE,
    VIDEO_TOO_LONG,
)


class VideoError(ValueError):
    """A clip that cannot be stylized; `code` says why (contracts.video)."""

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
