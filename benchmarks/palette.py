"""Palette matching at full size: `match_palette` (ranks from a strided sample, converted a band
of rows at a time) against `match_palette_exact` (every pixel ranked, whole-image Lab), in one run.

    python benchmarks/palette.py [--sizes 1024x683,4096x2731] [--rounds 5] [--threads N]
                                 [--photo P --painting S] [--amount 0.5]

Per size: the two calls interleaved for --rounds rounds (median, s), the difference between their
results in 8-bit levels (mean, 99.9th percentile, worst pixel), and each call's peak RSS growth
in a fresh process (MiB over the loaded photo and palette; /proc/self/status VmHWM, which sees
torch's memory as tracemalloc does not). The photo is centre-cropped to each size; the painting's
palette is read at 512 px, as style_stats reads it. Prints the CPU, its instruction set, torch's
thread count and the load average, since the CPU may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.color import match_palette, match_palette_exact, palette  # noqa: E402
from models.images import to_tensor  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "samples"
CALLS = {"exact": match_palette_exact, "sampled+banded": match_palette}


def cpu_name() -> str:
    """The CPU's model name and its widest vector instruction set."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln), "?"
    )
    isa = "AVX-512" if "avx512f" in info else "AVX2" if "avx2" in info else "no AVX2"
    return f"{name}, {os.cpu_count()} cores, {isa}"


def load(path: Path, size: tuple[int, int]) -> torch.Tensor:
    with Image.open(path) as image:
        return to_tensor(ImageOps.fit(image.convert("RGB"), size)).contiguous()


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h or w)


def inputs(args: argparse.Namespace, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    painting = load(args.painting, (512, 512 * 3 // 4))
    return load(args.photo, size), palette(painting)


def peak_growth_mib(args: argparse.Namespace, size: str, call: str) -> float:
    """Peak RSS growth of one call in a fresh process (this script with --memory-of)."""
    command = [sys.executable, __file__, "--memory-of", call, "--sizes", size]
    command += ["--photo", str(args.photo), "--painting", str(args.painting)]
    command += ["--threads", str(args.threads), "--amount", str(args.amount)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def _rss_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(ln.split()[1] for ln in status if ln.startswith(field + ":")))


def memory_of(args: argparse.Namespace) -> None:
    """Print one call's peak RSS growth, MiB: the peak (VmHWM) reset to the current RSS once
    the inputs are loaded (decoding the photo peaks higher than what it leaves)."""
    x, target = inputs(args, parse_size(args.sizes))
    match_palette(x[..., :64, :64], target, args.amount)  # load kernels before the baseline
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _rss_kib("VmRSS")
    CALLS[args.memory_of](x, target, args.amount)
    print((_rss_kib("VmHWM") - before) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024x683,4096x2731")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--photo", type=Path, default=SAMPLES / "content" / "golden_gate.jpg")
    parser.add_argument("--painting", type=Path, default=SAMPLES / "style" / "la_muse.jpg")
    parser.add_argument("--amount", type=float, default=0.5, help="the shipped palette_match")
    parser.add_argument("--memory-of", choices=sorted(CALLS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_of:
        memory_of(args)
        return
    print(f"# {cpu_name()}; torch {torch.__version__}, {args.threads} threads")
    print(
        f"# load average at start {os.getloadavg()[0]:.1f}; {args.photo.name} + {args.painting.name}"
    )
    print(f"# amount {args.amount}; median of {args.rounds} interleaved rounds")
    print(
        "| size | call | median s | rounds s | peak RSS growth MiB | vs exact, levels: mean / p99.9 / max |"
    )
    print("| --- | --- | ---: | --- | ---: | --- |")
    for size in args.sizes.split(","):
        x, target = inputs(args, parse_size(size))
        times: dict[str, list[float]] = {name: [] for name in CALLS}
        results: dict[str, torch.Tensor] = {}
        for _ in range(args.rounds):
            for name, call in CALLS.items():
                start = time.perf_counter()
                results[name] = call(x, target, args.amount)
                times[name].append(time.perf_counter() - start)
        error = ((results["sampled+banded"] - results["exact"]).abs() * 255).flatten()
        p999 = float(error.kthvalue(int(0.999 * error.numel())).values)
        for name in CALLS:
            agreement = (
                "reference"
                if name == "exact"
                else f"{float(error.mean()):.3f} / {p999:.2f} / {float(error.max()):.1f}"
            )
            rounds = " ".join(f"{t:.2f}" for t in times[name])
            median = statistics.median(times[name])
            mib = peak_growth_mib(args, size, name)
            print(f"| {size} | {name} | {median:.3f} | {rounds} | {mib:.0f} | {agreement} |")
        print(f"# load average after {size}: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
