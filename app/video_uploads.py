"""A clip sent to `POST /v1/videos`: its form fields as checked parameters, and the probe that
refuses a bad clip before anything is stored.

The probe is `contracts.video_probe` (PyAV, torch-free), the same code the worker and the CLI
run, so the API refuses exactly what the worker could not decode; it reads the upload where it
was spooled as it streamed in (`app.api.uploads`), so that a clip is never held in memory, and
storage takes it from that file. Refusals are `contracts.video.VideoError`s with their codes;
the route answers them with `VIDEO_ERROR_STATUS`.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from contracts.regions import MAX_FEATHER
from contracts.stylize import MIN_SIDE
from contracts.video import STABILITY_MAX, VideoError
from contracts.video_probe import VideoInfo, probe

# FFmpeg's demuxer names -> the type a stored clip is served with.
_CONTENT_TYPES = {
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/webm",
    "avi": "video/x-msvideo",
    "mpegts": "video/mp2t",
}


class VideoCreate(BaseModel):
    """The non-file fields of `POST /v1/videos` (the clip and a style image come as files)."""

    model_config = ConfigDict(extra="forbid")

    style_id: str | None = None
    model_id: str | None = Field(default=None, description="default: the active model")
    strength: float = Field(default=1.0, ge=0.0, le=1.0, description="0 = the clip, 1 = full style")
    preserve_color: bool = Field(default=False, description="keep the clip's colours")
    max_side: int | None = Field(
        default=None,
        ge=MIN_SIDE,
        description="the output's longer side at most this (px); default: the clip's size",
    )
    stability: float | None = Field(
        default=None,
        ge=0.0,
        le=STABILITY_MAX,
        description="weight of the previous frame's result, carried along the motion, on each "
        "frame: 0 stylizes frame by frame (flickers), higher is steadier and softer; default: "
        "by the frame size",
    )
    webhook_url: AnyHttpUrl | None = None
    keep_boxes: str | None = Field(
        default=None,
        description="JSON list of [x0, y0, x1, y1] (0..1) regions kept as filmed in every "
        'frame, e.g. "[[0, 0, 0.5, 1]]"',
    )
    feather: int = Field(
        default=0, ge=0, le=MAX_FEATHER, description="soft edge around kept regions, pixels"
    )


@dataclass(frozen=True)
class StoredClip:
    """An upload that probed as a usable clip: the file to store (the request's, removed with
    it), its sha256 (computed as it streamed in) and the row that describes it."""

    path: Path
    sha256: str
    width: int
    height: int
    content_type: str


def probe_upload(
    path: Path, *, sha256: str, max_seconds: float, max_side: int
) -> tuple[StoredClip, VideoInfo]:
    """The clip at `path` and what it holds, or the `VideoError` that says why it cannot be
    used (its message names the file "video", not this machine's temporary path)."""
    try:
        info = probe(path, max_seconds=max_seconds, max_side=max_side)
    except VideoError as exc:
        raise type(exc)(exc.message.replace(str(path), "video")) from None
    content_type = _CONTENT_TYPES.get(info.container, "application/octet-stream")
    return StoredClip(path, sha256, info.width, info.height, content_type), info


def clip_parameters(info: VideoInfo) -> dict[str, Any]:
    """What the probe found, recorded with the job (the worker probes again; these are for the
    job's reader: the frames progress counts to, and whether the result will have sound)."""
    return {
        "width": info.width,
        "height": info.height,
        "fps": float(info.fps),
        "duration": round(info.duration, 3),
        "frames": info.frames,
        "has_audio": info.has_audio,
        "video_codec": info.video_codec,
    }
