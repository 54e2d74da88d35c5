"""Synthetic clips for the video tests, made with PyAV: a pan across a generated picture, with
or without a sine tone as AAC audio."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.models.conftest import synthetic_image


def pan_frames(
    width: int, height: int, frames: int, step: float = 1.5, seed: int = 0
) -> list[np.ndarray]:
    """(H, W, 3) uint8 frames of a window moving `step` px right and `step / 2` px down per
    frame across a larger synthetic picture."""
    margin = int(abs(step) * frames) + 4
    canvas = np.asarray(synthetic_image(width + margin, height + margin, seed))
    out = []
    for t in range(frames):
        x, y = round(step * t), round(step * t / 2)
        out.append(np.ascontiguousarray(canvas[y : y + height, x : x + width]))
    return out


def write_clip(
    path: Path,
    frames: list[np.ndarray],
    *,
    fps: int = 24,
    audio: bool = False,
    container: str = "mp4",
    rotation: int = 0,
) -> Path:
    """Encode `frames` as H.264 (and a 440 Hz tone as AAC when `audio`) into `path`."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format=container) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=48000)
            sound.layout = "stereo"
        for rgb in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            seconds = len(frames) / fps
            samples = int(seconds * 48000)
            t = np.arange(samples) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = np.stack([tone[start : start + 1024]] * 2)
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(chunk), format="fltp", layout="stereo"
                )
                frame.sample_rate = 48000
                frame.pts = start
                frame.time_base = Fraction(1, 48000)
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def clip_bytes(width: int, height: int, frames: int, fps: int = 24) -> bytes:
    """The bytes of an MP4 (H.264, yuv420p) of `pan_frames`, for tests that upload a clip."""
    with tempfile.TemporaryDirectory() as folder:
        return write_clip(
            Path(folder) / "clip.mp4", pan_frames(width, height, frames), fps=fps
        ).read_bytes()


def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
    """(pts, RGB) of every frame of a clip."""
    with av.open(str(path)) as clip:
        return [(f.pts, f.to_ndarray(format="rgb24")) for f in clip.decode(video=0)]
