"""Probing a clip: what it holds, and each refusal with its code (contracts.video)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from contracts.video import (
    CORRUPT_VIDEO,
    NO_VIDEO_STREAM,
    NOT_A_VIDEO,
    VIDEO_ERROR_STATUS,
    VIDEO_TOO_LARGE,
    VIDEO_TOO_LONG,
)
from models.video.decode import decode_frames
from models.video.errors import VideoError
from models.video.probe import probe
from tests.models.conftest import synthetic_image
from tests.models.video_clips import pan_frames, write_clip


def test_probe_reports_size_rate_frames_duration_and_audio(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", pan_frames(96, 64, 36), fps=24, audio=True)
    info = probe(clip)
    assert (info.width, info.height) == (96, 64)
    assert info.fps == Fraction(24)
    assert info.frames == 36
    assert info.duration == pytest.approx(1.5, abs=1e-6)
    assert info.has_audio and info.audio_codec == "aac"
    assert info.video_codec == "h264" and info.rotation == 0

    silent = probe(write_clip(tmp_path / "s.mp4", pan_frames(96, 64, 10), fps=25))
    assert not silent.has_audio and silent.audio_codec is None
    assert silent.frames == 10 and silent.duration == pytest.approx(0.4, abs=1e-6)


def test_probe_reads_a_phone_clips_rotation(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "r.mp4", pan_frames(96, 64, 4), rotation=90)
    assert probe(clip).rotation == 90


def _refusal(path: Path, **limits: float) -> VideoError:
    with pytest.raises(VideoError) as caught:
        probe(path, **limits)  # type: ignore[arg-type]
    return caught.value


def test_text_image_and_empty_files_are_not_videos(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    image = tmp_path / "photo.png"
    synthetic_image(64, 48, seed=1).save(image)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (text, image, empty, tmp_path / "missing.mp4"):
        error = _refusal(path)
        assert error.code == NOT_A_VIDEO, path
        assert str(error).startswith("not_a_video: ")


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 48000
        for i in range(20):
            frame.pts = i * 1024
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    assert _refusal(path).code == NO_VIDEO_STREAM


def test_limits_refuse_a_long_or_large_clip(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", pan_frames(96, 64, 48), fps=24)  # 2 s
    assert _refusal(clip, max_seconds=1.0).code == VIDEO_TOO_LONG
    assert _refusal(clip, max_side=80).code == VIDEO_TOO_LARGE
    assert probe(clip, max_seconds=2.0, max_side=96).frames == 48
    assert probe(clip, max_seconds=None, max_side=None).frames == 48


def test_a_stream_that_stops_decoding_midway_is_corrupt(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", pan_frames(96, 64, 48), fps=24)
    data = bytearray(clip.read_bytes())
    # The container's index is at the end: overwrite the second half of the pictures.
    start, stop = len(data) // 2, int(len(data) * 0.7)
    data[start:stop] = np.random.default_rng(0).integers(0, 256, stop - start, np.uint8).tobytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    info = probe(broken)  # the start decodes: accepted here, refused while decoding
    with pytest.raises(VideoError) as caught:
        for _ in decode_frames(broken, info, (96, 64)):
            pass
    assert caught.value.code == CORRUPT_VIDEO
    assert "frame" in caught.value.message


def test_every_code_has_an_http_status() -> None:
    codes = {NOT_A_VIDEO, NO_VIDEO_STREAM, VIDEO_TOO_LONG, VIDEO_TOO_LARGE, CORRUPT_VIDEO}
    assert set(VIDEO_ERROR_STATUS) == codes
    assert all(400 <= status < 500 for status in VIDEO_ERROR_STATUS.values())
