"""The final clip: the finished segments' packets one after another and the source's audio
beside them, with no picture re-encoded; `faststart` puts the index first, so a browser starts
playing before the whole file has arrived.

Audio is copied packet for packet when MP4 can hold its codec (AAC, MP3, Opus, FLAC, AC-3...);
any other (PCM, Vorbis) is encoded to AAC, the one case where a sound is not passed through.
The file is written under a temporary name and renamed when complete: nothing half-written is
ever at `out`.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer

from models.video.encode import exact_timestamps
from models.video.segments import SegmentSink

# Audio codecs FFmpeg's MP4 muxer stores as they are.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "opus", "flac", "alac"})
# FFmpeg's layout names by channel count, for audio encoded to AAC (more channels: downmixed).
AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _seconds(packet: av.Packet) -> Fraction:
    ts = packet.dts if packet.dts is not None else packet.pts
    return Fraction(ts or 0) * Fraction(packet.time_base)


def _segment_packets(sink: SegmentSink, segments: int, out: av.VideoStream) -> Iterator[av.Packet]:
    last_dts: int | None = None
    for index in range(segments):
        with sink.open(index) as file, av.open(file, "r") as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                # Rebased to the output's time base by mux; compared here in the segment's own.
                if last_dts is not None and packet.dts is not None and packet.dts <= last_dts:
                    raise RuntimeError(
                        f"segment {index}: decoding times go back ({packet.dts} after "
                        f"{last_dts}); the segments were not written by one encoding setup"
                    )
                last_dts = packet.dts
                packet.stream = out
                yield packet


def _copied_audio(
    source: InputContainer, stream: av.AudioStream, out: av.AudioStream
) -> Iterator[av.Packet]:
    for packet in source.demux(stream):
        if packet.size == 0:
            continue
        packet.stream = out
        yield packet


def _encoded_audio(
    source: InputContainer, stream: av.AudioStream, out: av.AudioStream
) -> Iterator[av.Packet]:
    for packet in source.demux(stream):
        for frame in packet.decode():
            yield from out.encode(frame)
    yield from out.encode(None)


def join_segments(
    sink: SegmentSink, segments: int, source: str | Path, out: str | Path, *, rotation: int = 0
) -> None:
    """Write `out` (MP4) from the sink's first `segments` segments and `source`'s audio."""
    out = Path(out)
    partial = out.with_name(f".{out.name}.part")
    try:
        with (
            sink.open(0) as first_file,
            av.open(first_file) as first,
            av.open(str(source)) as src,
        ):
            template = first.streams.video[0]
            audio_in = src.streams.audio[0] if src.streams.audio else None
            time_bases = [Fraction(template.time_base or 1)]
            if audio_in is not None:
                time_bases.append(Fraction(audio_in.time_base or 1))
            options = {"movflags": "faststart", **exact_timestamps(*time_bases)}
            with av.open(str(partial), "w", format="mp4", options=options) as output:
                video_out = output.add_stream_from_template(template)
                if rotation:
                    video_out.set_display_rotation(rotation)
                streams: list[Iterator[av.Packet]] = [_segment_packets(sink, segments, video_out)]
                if audio_in is not None:
                    if audio_in.codec_context.name in MP4_AUDIO_CODECS:
                        audio_out = output.add_stream_from_template(audio_in)
                        streams.append(_copied_audio(src, audio_in, audio_out))
                    else:
                        audio_out = output.add_stream(
                            "aac", rate=audio_in.codec_context.sample_rate
                        )
                        # The usual layout for the channel count: AAC refuses an unordered
                        # one ("2 channels"), which PCM in Matroska often has.
                        channels = audio_in.codec_context.layout.nb_channels
                        audio_out.layout = AAC_LAYOUTS.get(channels, "stereo")
                        streams.append(_encoded_audio(src, audio_in, audio_out))
                # In time order, so the file interleaves sound and picture as a player reads them.
                for packet in heapq.merge(*streams, key=_seconds):
                    output.mux(packet)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
