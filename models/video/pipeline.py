"""A clip in, stylized segments out: decode -> flow -> stylize and stabilise -> encode.

    frames  = decode_frames(clip)                  # thread 1, with the optical flow
    moving  = with_motion(frames)                  #   (source frames only: runs ahead)
    styled  = stylized(threaded(moving))           # thread 2: the GAN, then the blend
    written = write_segments(threaded(styled))     # this thread: H.264, segment by segment

Each arrow is a queue of a few frames, so memory does not grow with the clip. The segments go to
a `SegmentSink` as each is finished; a job started again with the same sink resumes at the first
unfinished one (the frames before it are decoded but neither stylized nor encoded) and produces
the same frames as a run that never stopped. `join_segments` then makes the final file.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from contracts.video import SEGMENT_SECONDS
from models.stylizer import StyleInput, Stylizer
from models.video.decode import SourceFrame, decode_frames, output_size
from models.video.encode import Encoding, SegmentWriter
from models.video.flow import FlowEstimator, Motion
from models.video.grid_lock import GridLock
from models.video.probe import VideoInfo
from models.video.segments import Carry, SegmentPlan, SegmentSink, decode_carry, encode_carry
from models.video.stability import StabilitySettings, stabilize
from models.video.stages import StageTimes, threaded

# (H, W, 3) uint8 RGB -> the same size stylized: one frame, as a still would be.
FrameStylizer = Callable[[np.ndarray], np.ndarray]
# Called with (frames done, frames in all) after every frame written (or passed over).
FrameProgress = Callable[[int, int], None]
QUEUE_FRAMES = 3


def frame_stylizer(
    stylizer: Stylizer,
    styles: Sequence[StyleInput],
    *,
    strength: float = 1.0,
    preserve_color: bool = False,
) -> FrameStylizer:
    """Frames stylized by the stills' call (palette matching included), so that a frame looks
    as a still of it would; pass StyleStats from `stylizer.style_stats` so the style is encoded
    once per clip, not once per frame."""

    def run(rgb: np.ndarray) -> np.ndarray:
        image = stylizer(
            Image.fromarray(rgb), styles, strength=strength, preserve_color=preserve_color
        )
        return np.asarray(image)

    return run


@dataclass(frozen=True)
class VideoOptions:
    max_side: int | None = None  # the output's longer side at most (default: the source's)
    stability: StabilitySettings = field(default_factory=StabilitySettings)
    # Each frame padded (and moved by a fraction of a pixel) so the scene keeps its place on
    # the generator's stride grid as the camera pans (models/video/grid_lock.py); needs the
    # flow, so only with stability on.
    grid_lock: bool = True
    flow_preset: str = "medium"
    flow_scale: float = 0.5
    segment_seconds: float = SEGMENT_SECONDS
    encoding: Encoding = field(default_factory=Encoding)


@dataclass(frozen=True)
class StyledFrame:
    index: int
    pts: int
    source: np.ndarray  # (H, W, 3) uint8 at the output size
    stylized: np.ndarray  # the frame's own stylization (grid-locked), kept regions held
    result: np.ndarray  # what is encoded: stabilised, kept regions held
    # The stabiliser's state: the stabilised frame before the kept regions are put back (the
    # previous result the next frame is blended with, and a resumed job's carry).
    carry: np.ndarray
    origin: tuple[float, float] = (0.0, 0.0)  # the grid lock's origin at this frame


@dataclass
class VideoRun:
    size: tuple[int, int]
    segments: int  # in the sink once the run is done
    stability: float = 0.0  # the amount used
    frames_written: int = 0
    frames_resumed: int = 0  # frames of segments already finished before this run
    seconds: float = 0.0
    times: StageTimes = field(default_factory=StageTimes)


def with_motion(
    frames: Iterator[SourceFrame],
    estimator: FlowEstimator | None,
    start: int,
    times: StageTimes,
    lead: bool = False,
) -> Iterator[tuple[SourceFrame, Motion | None]]:
    """Frames from `start` on (from the one before it with `lead`, which a resumed grid lock
    measures the next frame's pan against), each with its motion from the previous frame
    (None for the clip's first frame, the lead frame, or when stability is off)."""
    previous: np.ndarray | None = None
    for frame in frames:
        if frame.index < start - 1 or frame.rgb is None:
            continue
        motion = None
        if estimator is not None:
            with times.timing("flow"):
                luma = estimator.luma(frame.rgb)
                if previous is not None:
                    motion = estimator.motion(previous, luma)
            previous = luma
        if frame.index >= start or lead:
            yield frame, motion


def held(picture: np.ndarray, source: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """`picture` with the source put back where `keep` (H, W, 1) float32 says (1 = stylized,
    0 = the source's pixel; feathered between); unchanged when keep is None."""
    if keep is None:
        return picture
    return (picture * keep + source * (1.0 - keep) + 0.5).astype(np.uint8)


def stylized(
    moving: Iterator[tuple[SourceFrame, Motion | None]],
    stylize: FrameStylizer,
    previous: np.ndarray | None,
    settings: StabilitySettings,
    times: StageTimes,
    keep: np.ndarray | None = None,
    lock: GridLock | None = None,
    start: int = 0,
) -> Iterator[StyledFrame]:
    """Each frame stylized (on the grid `lock` keeps, when given), then blended with the
    previous result (`previous`: the carry of the last finished segment on a resumed job, else
    None), then its kept regions put back.

    The stabiliser sees only stylized pictures: the kept regions are put back after it, so
    that neither its blend nor its blurs carry the styled side's changes into them, and the
    source's pixels never enter its state."""
    for frame, motion in moving:
        if frame.rgb is None:  # with_motion passes only converted frames
            continue
        if frame.index < start:  # the lead frame of a resumed run: the lock's reference
            if lock is not None:
                lock.follow(None, frame.rgb)
            continue
        with times.timing("stylize"):
            if lock is None:
                own = stylize(frame.rgb)
            else:
                lock.follow(motion, frame.rgb)
                own = lock.stylized(stylize, frame.rgb)
        with times.timing("stabilize"):
            state = stabilize(own, previous, motion, settings)
            result = held(state, frame.rgb, keep)
        previous = state
        origin = (lock.x, lock.y) if lock is not None else (0.0, 0.0)
        yield StyledFrame(
            frame.index, frame.pts, frame.rgb, held(own, frame.rgb, keep), result, state, origin
        )


def stylize_video(
    source: str | Path,
    info: VideoInfo,
    stylize: FrameStylizer,
    sink: SegmentSink,
    *,
    options: VideoOptions | None = None,
    progress: FrameProgress | None = None,
    check: Callable[[], None] | None = None,
    on_frame: Callable[[StyledFrame], None] | None = None,
    keep: np.ndarray | None = None,
) -> VideoRun:
    """Stylize the clip at `source` (probed as `info`) into the sink's segments, from the first
    unfinished one; `join_segments(sink, run.segments, source, out)` makes the final file.

    Args:
        stylize: one frame -> its stylization (`frame_stylizer`).
        check: called before every frame; it may raise (a cancel), which stops the run within
            the segment being written: that segment is dropped, the finished ones stay.
        on_frame: called with every frame written (source, the frame's own grid-locked
            stylization and the stabilised result), for previews and measurements.
        keep: (H, W, 1) float32 at the output size, 1 = stylized, 0 = the source's pixel held
            in every frame (a job's `keep_boxes`), put back after the stabiliser.
    """
    options = options or VideoOptions()
    plan = SegmentPlan.for_clip(info, options.segment_seconds)
    size = output_size(info.width, info.height, options.max_side)
    run = VideoRun(size=size, segments=plan.segments)
    resumed = min(sink.finished(), plan.segments)
    start = plan.first_frame(resumed)
    run.frames_resumed = min(start, info.frames)
    if resumed == plan.segments:
        return run
    carry = decode_carry(sink.carry(resumed - 1)) if resumed else None
    stability = options.stability.for_size(*size)
    run.stability = stability.amount or 0.0
    estimator = FlowEstimator(options.flow_preset, options.flow_scale) if stability.amount else None
    lock = None
    if estimator is not None and options.grid_lock:
        lock = GridLock(*carry.origin) if carry is not None else GridLock()
    began = time.perf_counter()
    frames = run.times.timed(decode_frames(source, info, size, convert_from=start - 1), "decode")
    moving = threaded(
        with_motion(frames, estimator, start, run.times, lead=lock is not None),
        maxsize=QUEUE_FRAMES,
        name="decode",
    )
    styled = threaded(
        stylized(
            moving, stylize, carry.rgb if carry else None, stability, run.times, keep, lock, start
        ),
        maxsize=QUEUE_FRAMES,
        name="stylize",
    )
    try:
        _write_segments(styled, plan, info, sink, run, options, progress, check, on_frame)
    finally:
        styled.close()
        run.seconds = time.perf_counter() - began
    # What the sink holds is what the clip decoded to: the probe's count of packets may exceed
    # its frames by a dropped one, and the join takes every segment written.
    run.segments = sink.finished()
    return run


def _write_segments(
    styled: Iterator[StyledFrame],
    plan: SegmentPlan,
    info: VideoInfo,
    sink: SegmentSink,
    run: VideoRun,
    options: VideoOptions,
    progress: FrameProgress | None,
    check: Callable[[], None] | None,
    on_frame: Callable[[StyledFrame], None] | None,
) -> None:
    """Encode frames into one MP4 per segment and hand each to the sink as it is finished."""
    with tempfile.TemporaryDirectory(prefix="atelier-segment-") as scratch:
        writer: SegmentWriter | None = None
        segment = -1
        last: StyledFrame | None = None
        try:
            for frame in styled:
                if check is not None:
                    check()
                if writer is None or plan.segment_of(frame.index) != segment:
                    if writer is not None and last is not None:
                        _finish(writer, segment, last, sink, scratch, run)
                    segment = plan.segment_of(frame.index)
                    writer = SegmentWriter(
                        Path(scratch) / f"{segment}.mp4",
                        size=run.size,
                        fps=info.fps,
                        time_base=info.time_base,
                        encoding=options.encoding,
                    )
                with run.times.timing("encode"):
                    writer.write(frame.result, frame.pts)
                last = frame
                run.frames_written += 1
                if on_frame is not None:
                    on_frame(frame)
                if progress is not None:
                    progress(run.frames_resumed + run.frames_written, info.frames)
            if writer is not None and last is not None:
                _finish(writer, segment, last, sink, scratch, run)
                writer = None
        finally:
            if writer is not None:
                writer.abandon()


def _finish(
    writer: SegmentWriter, segment: int, last: StyledFrame, sink: SegmentSink, scratch: str,
    run: VideoRun,
) -> None:  # fmt: skip
    with run.times.timing("encode", frames=0):
        writer.close()
    path = Path(scratch) / f"{segment}.mp4"
    sink.save(segment, path, encode_carry(Carry(last.carry, last.origin)))
    path.unlink()
