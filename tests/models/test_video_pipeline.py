"""The video pipeline end to end on synthetic clips: decode -> flow -> stylize -> encode in
segments -> join. Frame count, timestamps, rate, audio; segments, resume and cancel."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from models.inference import GANStylizer, load_stylizer
from models.video.errors import CorruptVideoError
from models.video.join import join_segments
from models.video.pipeline import StyledFrame, VideoOptions, frame_stylizer, stylize_video
from models.video.probe import probe
from models.video.segments import DirectorySink
from tests.models.conftest import synthetic_image
from tests.models.video_clips import decoded, pan_frames, write_clip


@pytest.fixture(scope="module")
def stylize(tiny_model: Path):  # type: ignore[no-untyped-def]
    stylizer = load_stylizer(tiny_model, device="cpu", backend="torch")
    assert isinstance(stylizer, GANStylizer)
    return frame_stylizer(stylizer, [stylizer.style_stats(synthetic_image(48, 48, seed=9))])


def _audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as clip:
        if not clip.streams.audio:
            return []
        return [(p.pts, bytes(p)) for p in clip.demux(clip.streams.audio[0]) if p.size]


@pytest.mark.parametrize("audio", [True, False])
def test_output_keeps_frames_timestamps_rate_and_audio(
    stylize, tmp_path: Path, audio: bool
) -> None:  # type: ignore[no-untyped-def]
    source = write_clip(tmp_path / "in.mp4", pan_frames(96, 64, 40), fps=24, audio=audio)
    info = probe(source)
    sink = DirectorySink(tmp_path / "parts")
    run = stylize_video(source, info, stylize, sink, options=VideoOptions(segment_seconds=0.5))
    assert run.segments == 4 and sink.finished() == 4 and run.frames_written == 40
    out = tmp_path / "out.mp4"
    join_segments(sink, run.segments, source, out)

    result = probe(out)
    assert (result.width, result.height) == (96, 64)
    assert result.frames == info.frames == 40
    assert result.fps == Fraction(24)
    assert result.duration == pytest.approx(info.duration, abs=1 / 24)
    assert [pts for pts, _ in decoded(out)] == [pts for pts, _ in decoded(source)]
    assert result.has_audio == audio
    # Copied, not re-encoded: the very packets, at the very times.
    assert _audio_packets(out) == _audio_packets(source)
    # faststart: the index (moov) comes before the pictures (mdat).
    head = out.read_bytes()[:4096]
    assert b"moov" in head and (b"mdat" not in head or head.index(b"moov") < head.index(b"mdat"))


def test_odd_sized_matroska_source_with_pcm_sound(stylize, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Even sides for H.264, the source's timestamps, and its PCM sound (which MP4 cannot hold)
    encoded to AAC at its length."""
    frames = pan_frames(97, 63, 20)
    source = tmp_path / "in.mkv"
    with av.open(str(source), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 97, 63, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=8000)
        sound.layout = "mono"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        for i in range(8):  # 0.8 s of a tone
            samples = (8000 * np.sin(np.arange(800) / 5)).astype(np.int16)[None]
            chunk = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            chunk.sample_rate, chunk.pts = 8000, i * 800
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    info = probe(source)
    assert (info.width, info.height, info.frames, info.audio_codec) == (97, 63, 20, "pcm_s16le")
    sink = DirectorySink(tmp_path / "parts")
    run = stylize_video(source, info, stylize, sink, options=VideoOptions(max_side=80))
    out_path = tmp_path / "out.mp4"
    join_segments(sink, run.segments, source, out_path)
    result = probe(out_path)
    assert (result.width, result.height) == (80, 52)  # 97x63 scaled to 80 wide, even sides
    assert result.frames == 20
    seconds = [float(pts * result.time_base) for pts, _ in decoded(out_path)]
    assert seconds == pytest.approx([i / 25 for i in range(20)], abs=1e-3)
    assert result.audio_codec == "aac"
    with av.open(str(out_path)) as clip:
        samples = sum(frame.samples for frame in clip.decode(audio=0))
    assert 6400 <= samples <= 6400 + 1024  # AAC pads to whole frames of 1024


def _run(source: Path, sink: DirectorySink, stylize, **kwargs) -> list[StyledFrame]:  # type: ignore[no-untyped-def]
    frames: list[StyledFrame] = []
    stylize_video(
        source, probe(source), stylize, sink,
        options=VideoOptions(segment_seconds=0.5), on_frame=frames.append, **kwargs,
    )  # fmt: skip
    return frames


class Killed(Exception):
    """Stands for a worker killed mid-clip."""


def test_a_killed_run_resumes_at_its_first_unfinished_segment(stylize, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = write_clip(tmp_path / "in.mp4", pan_frames(96, 64, 40), fps=24, audio=True)
    whole = DirectorySink(tmp_path / "whole")
    uninterrupted = _run(source, whole, stylize)
    join_segments(whole, 4, source, tmp_path / "whole.mp4")

    # Killed on the 17th frame (segment 1 of 12-frame segments): segment 0 alone is kept.
    resumed = DirectorySink(tmp_path / "resumed")
    written: list[int] = []

    def kill_after_16() -> None:
        if len(written) == 16:
            raise Killed
        written.append(1)

    with pytest.raises(Killed):
        _run(source, resumed, stylize, check=kill_after_16)
    assert resumed.finished() == 1
    progress: list[tuple[int, int]] = []
    second = _run(
        source, resumed, stylize, progress=lambda done, total: progress.append((done, total))
    )
    assert [f.index for f in second] == list(range(12, 40))  # from segment 1, nothing twice
    assert progress[0] == (13, 40) and progress[-1] == (40, 40)
    join_segments(resumed, 4, source, tmp_path / "resumed.mp4")

    # The resumed run blends its first frame with the stored carry: the same results as one run.
    for a, b in zip(uninterrupted[12:], second, strict=True):
        assert np.array_equal(a.result, b.result), a.index
    whole_frames, resumed_frames = (
        decoded(tmp_path / "whole.mp4"),
        decoded(tmp_path / "resumed.mp4"),
    )
    assert [p for p, _ in resumed_frames] == [
        p for p, _ in whole_frames
    ]  # no frame lost or doubled
    # The same pictures. (Not bit for bit: PyAV's libx264 is not reproducible at some widths,
    # this one included, even on one thread; its two encodings differ by well under its error.)
    for (_, a), (_, b), styled in zip(whole_frames, resumed_frames, uninterrupted, strict=True):
        between = np.abs(a.astype(int) - b).mean()
        assert between < 0.5 * np.abs(a.astype(int) - styled.result).mean() + 0.5


def test_segments_give_the_frames_of_a_single_segment_run(stylize, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = write_clip(tmp_path / "in.mp4", pan_frames(96, 64, 30), fps=24)
    one: list[StyledFrame] = []
    sink = DirectorySink(tmp_path / "one")
    stylize_video(
        source,
        probe(source),
        stylize,
        sink,
        options=VideoOptions(segment_seconds=10),
        on_frame=one.append,
    )
    assert sink.finished() == 1
    many = _run(source, DirectorySink(tmp_path / "many"), stylize)
    assert len(one) == len(many) == 30
    assert all(np.array_equal(a.result, b.result) for a, b in zip(one, many, strict=True))
    # Each segment decodes on its own (closed GOPs) and they hold every frame once.
    counts = []
    for index in range(3):
        with DirectorySink(tmp_path / "many").open(index) as file, av.open(file) as clip:
            counts.append(sum(1 for _ in clip.decode(video=0)))
    assert counts == [12, 12, 6]


def test_kept_regions_are_the_source_in_every_stabilised_frame(stylize, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`keep` is put back after the stabiliser: the kept half of every result (and of the
    frame-by-frame picture) is the decoded source's pixel exactly, and the stabiliser's own
    state there stays stylized (the source never enters its blend or its blurs)."""
    source = write_clip(tmp_path / "in.mp4", pan_frames(96, 64, 24), fps=24)
    keep = np.ones((64, 96, 1), np.float32)
    keep[:, :48] = 0.0
    frames: list[StyledFrame] = []
    stylize_video(
        source, probe(source), stylize, DirectorySink(tmp_path / "parts"),
        on_frame=frames.append, keep=keep,
    )  # fmt: skip
    assert len(frames) == 24
    for frame in frames:
        assert np.array_equal(frame.result[:, :48], frame.source[:, :48])
        assert np.array_equal(frame.stylized[:, :48], frame.source[:, :48])
        assert np.array_equal(frame.result[:, 48:], frame.carry[:, 48:])
        assert np.abs(frame.carry[:, :48].astype(int) - frame.source[:, :48]).mean() > 5
    assert np.abs(frames[-1].result[:, 48:].astype(int) - frames[-1].source[:, 48:]).mean() > 5


def test_cancel_stops_within_a_segment_and_leaves_no_partial_file(
    stylize, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    source = write_clip(tmp_path / "in.mp4", pan_frames(96, 64, 40), fps=24)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen: list[int] = []

    class Cancelled(Exception):
        pass

    def cancel_at_frame_5() -> None:
        if len(seen) == 5:
            raise Cancelled
        seen.append(1)

    sink = DirectorySink(tmp_path / "parts")
    with pytest.raises(Cancelled):
        _run(source, sink, stylize, check=cancel_at_frame_5)
    assert sink.finished() == 0
    assert list(scratch.iterdir()) == []  # the segment being written is gone
    sink.clear()
    assert not (tmp_path / "parts").exists()


def test_a_stream_broken_midway_fails_the_run_with_its_code(stylize, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = write_clip(tmp_path / "in.mp4", pan_frames(96, 64, 48), fps=24)
    data = bytearray(source.read_bytes())
    start, stop = len(data) // 2, int(len(data) * 0.7)
    data[start:stop] = np.random.default_rng(0).integers(0, 256, stop - start, np.uint8).tobytes()
    source.write_bytes(bytes(data))
    sink = DirectorySink(tmp_path / "parts")
    with pytest.raises(CorruptVideoError) as caught:
        _run(source, sink, stylize)
    assert caught.value.code == "corrupt_video"
