"""Video: frames per second by stage, and how steady and how stylized the product's result is
against frame-by-frame stylization with the same model, in one run.

    python benchmarks/video.py [--clip ../shared/video/bigbuckbunny.mp4] [--style S] [--model M]
                               [--threads 2] [--backend auto] [--max-side N] [--stability A]
                               [--seconds N] [--no-quality] [--no-grid-lock] [--json OUT]
                               [--known-motion MOTION.json]

One pass of the product's pipeline (models.video: decode -> DIS flow -> grid-locked stylize ->
stabilise -> H.264 segments -> join), then the baseline: every source frame stylized on its own
by the same stylizer, as a still, after the timed pass (untimed; with --no-grid-lock the
stylize stage's own frames are that baseline):
  stage fps     frames / seconds each stage spent working (stages run in threads side by side
                on the same cores, so the wall clock's fps is below the slowest stage's);
  quality       warping error (x1000; Farneback flow of the source, on the pixels it tracks),
                style score (`atelier evaluate`'s, at 256 px; "inner": without a 32 px border,
                where stills had a thin dark line before the bleed, models/tiling.py) and
                content SSIM of the source, frame by frame, the grid-locked frames before the
                blend and the product, at the output's size (or --metric-side px), measured
                after the timed pass
                on the frames it wrote to a file; with --known-motion (a made clip's camera,
                from benchmarks/made_clips.py: per frame [a, tx, ty] or null) the warping
                error along that exact motion too ("exact");
  target        a 10 s 1280x720 24 fps clip within 120 s: 240 frames at the measured rate;
  memory        peak RSS growth over the loaded model (--no-quality: nothing kept), to compare
                clips of different lengths (--seconds: the clip played forwards and backwards
                to that length, made first).
The sample clip is an excerpt of Big Buck Bunny, (c) 2008 Blender Foundation,
www.bigbuckbunny.org, CC BY 3.0 (../shared/video/SOURCES.md); it is read in place.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.images import load_image  # noqa: E402
from models.inference import GANStylizer  # noqa: E402
from models.video.join import join_segments  # noqa: E402
from models.video.pipeline import (  # noqa: E402
    StyledFrame,
    VideoOptions,
    frame_stylizer,
    stylize_video,
)
from models.video.probe import probe  # noqa: E402
from models.video.quality import ClipScores, StyleScore  # noqa: E402
from models.video.segments import DirectorySink  # noqa: E402
from models.video.stability import StabilitySettings  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "video" / "bigbuckbunny.mp4"
STAGES = ("decode", "flow", "stylize", "stabilize", "encode")


def cpu_line() -> str:
    """The CPU's model and instruction set, which every figure here depends on."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "").split()
    name = next(
        (line.split(":", 1)[1].strip() for line in text.splitlines() if "model name" in line), "?"
    )
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    extra = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return f"{name}; {isa}{' + ' + ', '.join(extra) if extra else ''}"


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def looped_clip(source: Path, seconds: float, folder: Path) -> Path:
    """The clip played forwards, backwards, forwards... to `seconds`, re-encoded (H.264, no
    audio): a longer clip with the sample's motion, for the memory comparison."""
    with av.open(str(source)) as clip:
        stream = clip.streams.video[0]
        rate = stream.average_rate or 25
        frames = [f.to_ndarray(format="rgb24") for f in clip.decode(stream)]
    need = round(seconds * float(rate))
    order = frames + frames[::-1]
    path = folder / f"looped-{seconds:g}s.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt, video.options = "yuv420p", {"crf": "18", "preset": "veryfast"}
        for i in range(need):
            for packet in video.encode(av.VideoFrame.from_ndarray(order[i % len(order)], "rgb24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=SAMPLE)
    parser.add_argument("--style", type=Path, default=ROOT / "app/builtin_styles/starry-night.jpg")
    parser.add_argument(
        "--model", type=Path, default=ROOT / "models/shipped/atelier-default.safetensors"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--max-side", type=int, default=None)
    parser.add_argument(
        "--stability", type=float, default=None, help="default: the product's, by frame size"
    )
    parser.add_argument(
        "--metric-side", type=int, default=None, help="measure quality at most this size"
    )
    parser.add_argument("--seconds", type=float, default=None, help="loop the clip to this length")
    parser.add_argument("--no-quality", action="store_true", help="time and memory only")
    parser.add_argument(
        "--no-grid-lock", action="store_true", help="stylize frames unaligned (grid_lock.py)"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--known-motion", type=Path, default=None, help="a made clip's camera")
    args = parser.parse_args()
    known = json.loads(args.known_motion.read_text()) if args.known_motion else None

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="atelier-video-bench-"))
    clip = looped_clip(args.clip, args.seconds, work) if args.seconds else args.clip
    info = probe(clip, max_seconds=None, max_side=None)
    stylizer = GANStylizer.from_file(args.model, device="cpu", backend=args.backend)
    stylizer.warm_up()
    painting = load_image(args.style)
    stats = stylizer.style_stats(painting)
    backend = stylizer.backend_info
    print(f"CPU: {cpu_line()}; torch {torch.__version__}, {args.threads} threads")
    print(f"backend: {backend['name']} {backend['version']}; model {args.model.name}")
    print(
        f"clip: {clip.name}, {info.width}x{info.height}, {float(info.fps):g} fps, {info.frames}"
        f" frames, {info.duration:.2f} s, audio {'yes' if info.has_audio else 'no'}; style "
        f"{args.style.name}"
    )

    # The frames the quality is measured on go to a file as they come (the page cache, not
    # this process's memory), and are read back after the timed pass.
    kept = (work / "frames.raw").open("wb")  # noqa: SIM115 (closed after the timed pass)

    def keep(frame: StyledFrame) -> None:
        for picture in (frame.source, frame.stylized, frame.result):
            kept.write(np.ascontiguousarray(picture).tobytes())

    Path("/proc/self/clear_refs").write_text("5")  # peak RSS from here: the run's, not loading's
    loaded = rss_kib("VmRSS")
    sink = DirectorySink(work / "segments")
    options = VideoOptions(
        max_side=args.max_side,
        stability=StabilitySettings(amount=args.stability),
        grid_lock=not args.no_grid_lock,
    )
    started = time.perf_counter()
    stylize = frame_stylizer(stylizer, [stats])
    run = stylize_video(
        clip, info, stylize, sink, options=options,
        on_frame=None if args.no_quality else keep,
    )  # fmt: skip
    joined = time.perf_counter()
    out = work / "out.mp4"
    join_segments(sink, run.segments, clip, out, rotation=info.rotation)
    finished = time.perf_counter()
    peak_mib = (rss_kib("VmHWM") - loaded) / 1024
    result = probe(out, max_seconds=None, max_side=None)

    wall = finished - started
    fps = run.frames_written / wall
    figures: dict[str, object] = {
        "cpu": cpu_line(),
        "threads": args.threads,
        "backend": backend,
        "clip": str(clip.name),
        "size": list(run.size),
        "stability": run.stability,
        "grid_lock": options.grid_lock,
        "frames": run.frames_written,
        "wall_seconds": wall,
        "join_seconds": finished - joined,
        "fps": fps,
        "stage_fps": {s: run.times.fps(s) for s in STAGES},
        "stage_seconds": {s: run.times.seconds.get(s, 0.0) for s in STAGES},
        "peak_rss_growth_mib": peak_mib,
        "output": {"frames": result.frames, "duration": result.duration, "audio": result.has_audio},
    }
    locking = bool(options.grid_lock and run.stability)
    print(
        f"stability {run.stability:.2f} at {run.size[0]}x{run.size[1]}, grid lock"
        f" {'on' if locking else 'off'}"
    )
    print(f"\n{'stage':<12}{'fps':>8}{'busy s':>9}")
    for stage in STAGES:
        print(f"{stage:<12}{run.times.fps(stage):>8.1f}{run.times.seconds.get(stage, 0.0):>9.1f}")
    print(
        f"{'whole':<12}{fps:>8.2f}{wall:>9.1f}  (wall clock, join {finished - joined:.2f} s;"
        f" {wall / info.duration:.1f}x real time)"
    )
    w, h = run.size
    projected = 240 / fps * (1280 * 720) / (w * h)
    print(
        f"10 s 1280x720 24 fps clip at this rate (scaled by pixels from {w}x{h}): {projected:.0f} s"
        f" (target 120 s)"
    )
    print(
        f"output: {result.frames} frames (source {info.frames}), {result.duration:.3f} s (source "
        f"{info.duration:.3f} s), audio {'yes' if result.has_audio else 'no'}; peak RSS growth "
        f"{peak_mib:.0f} MiB"
    )
    if not args.no_quality:
        kept.close()
        scores = ClipScores(style=StyleScore(stylizer.encoder, painting), side=args.metric_side)
        frame_shape = (3, run.size[1], run.size[0], 3)
        with (work / "frames.raw").open("rb") as saved:
            index = 0
            while chunk := saved.read(int(np.prod(frame_shape))):
                source, locked, product = np.frombuffer(chunk, np.uint8).reshape(frame_shape)
                if locking:  # the pipeline's own frames are not frame by frame then
                    versions = {"frame by frame": stylize(source), "grid-locked": locked}
                else:
                    versions = {"frame by frame": locked}
                motion = known[index] if known and index < len(known) else None
                scores.add(
                    source, {**versions, "product": product}, tuple(motion) if motion else None
                )
                index += 1
        table = scores.table()
        base = table["frame by frame"]
        where = f"at {args.metric_side} px" if args.metric_side else f"at {w}x{h}"
        exact = "known_warping_error" in base
        print(
            f"\n{where:<16}{'warping x1000':>14}{'ratio':>8}"
            + (f"{'exact':>8}{'ratio':>8}" if exact else "")
            + f"{'style':>9}{'ratio':>8}{'inner':>8}{'ratio':>8}{'SSIM':>7}"
        )
        nan = float("nan")  # a score the metric size leaves out (inner: frames under 64 px)
        for name, row in table.items():
            line = (
                f"{name:<16}{row['warping_error']:>14.2f}"
                f"{row['warping_error'] / base['warping_error']:>8.0%}"
            )
            if exact:
                error = row["known_warping_error"]
                line += f"{error:>8.2f}{error / base['known_warping_error']:>8.0%}"
            print(
                line + f"{row['style']:>9.3f}{row['style'] / base['style']:>8.0%}"
                f"{row.get('inner_style', nan):>8.3f}"
                f"{row.get('inner_style', nan) / base.get('inner_style', nan):>8.0%}"
                f"{row['ssim']:>7.3f}"
            )
        print(
            "targets: warping error at most 40% of frame by frame's, style within 10% (lower is more style)"
        )
        figures["quality"] = table
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    sink.clear()


if __name__ == "__main__":
    main()
