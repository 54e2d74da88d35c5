"""The two generator architectures side by side: time and FLOPs of fusing and decoding one photo
(the `render` seam every backend runs), with both measured in the same run, interleaved.

    python benchmarks/generator2.py [--sizes 256,512] [--repeats 15] [--threads 1]

The first architecture is the shipped model; the second is the same weights promoted into the
modulated layout with random modulation weights (their values do not change the work). Rows per
size: torch fp32 contiguous, torch channels_last (+ bf16 autocast on a CPU with native bf16:
the torch backend's default there), ONNX Runtime and OpenVINO on each graph exported by torch
(opset 17, dynamic height and width). "ms" is the median of `repeats` calls after two warm-up
calls, the two architectures called in turn; "GFLOP" is torch's count of the encoder (content
only: a saved style) plus render.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.backends.export import _RenderGraph as RenderGraph  # noqa: E402
from models.backends.export import render_inputs  # noqa: E402
from models.encoders import build_encoder  # noqa: E402
from models.losses import mean_std  # noqa: E402
from models.modelfile import load_model  # noqa: E402
from models.modulated import promote  # noqa: E402
from models.networks import Generator, StyleStats  # noqa: E402

SHIPPED = ROOT / "models" / "shipped" / "atelier-default.safetensors"


def native_bf16() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def export(
    generator: Generator, inputs: list[torch.Tensor], folder: Path
) -> tuple[Path, dict[str, object]]:
    """The render graph of `generator` (opset 17, dynamic size) and its feeds for `inputs`."""
    names = ["strength"] + [f"in{i}" for i in range(len(inputs) - 1)]
    taps = generator.taps
    dynamic = {f"in{i}": {2: f"h{t.stride}", 3: f"w{t.stride}"} for i, t in enumerate(taps)}
    path = folder / f"{type(generator).__name__}.onnx"
    torch.onnx.export(
        RenderGraph(generator, tuple(t.name for t in taps)).eval(), (inputs[0], tuple(inputs[1:])),
        str(path), input_names=names,
        output_names=["image"], dynamic_axes=dynamic, opset_version=17, dynamo=False,
    )  # fmt: skip
    return path, {n: t.numpy() for n, t in zip(names, inputs, strict=True)}


def onnxruntime_call(
    generator: Generator, inputs: list[torch.Tensor], folder: Path
) -> Callable[[], object]:
    import onnxruntime as ort

    path, feeds = export(generator, inputs, folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, feeds)


def openvino_call(
    generator: Generator, inputs: list[torch.Tensor], folder: Path
) -> Callable[[], object]:
    """OpenVINO's CPU plugin as models.backends configures it: latency hint, fp32."""
    import openvino as ov

    path, feeds = export(generator, inputs, folder)
    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
              "INFERENCE_NUM_THREADS": torch.get_num_threads()}  # fmt: skip
    request = core.compile_model(core.read_model(str(path)), "CPU", config).create_infer_request()
    return lambda: request.infer(feeds)


def cases_at(
    size: int, encoder: nn.Module, generators: dict[str, Generator], style: StyleStats, tmp: Path
) -> tuple[dict[str, float], dict[str, dict[str, Callable[[], object]]]]:
    """GFLOP of each architecture at `size`, and the calls to time, case by case."""
    taps = tuple(t.name for t in next(iter(generators.values())).taps)
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size))
    feats = encoder(image, taps)
    stats = {t: mean_std(f) for t, f in feats.items()}
    inputs = [torch.tensor(1.0), *render_inputs(taps, feats, style, stats)]
    flops = {}
    for name, gen in generators.items():
        gen.to(memory_format=torch.contiguous_format)  # as exported, and the fp32 case's
        with FlopCounterMode(display=False) as counter:
            gen.render(encoder(image, taps), style, 1.0, stats)
        flops[name] = counter.get_total_flops() / 1e9
    last = {t: f.contiguous(memory_format=torch.channels_last) for t, f in feats.items()}
    bf16 = native_bf16()

    def plain(gen: Generator) -> Callable[[], object]:
        return lambda: gen.render(feats, style, 1.0, stats)

    def fast(gen: Generator) -> Callable[[], object]:
        def call() -> object:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return gen.render(last, style, 1.0, stats)

        return call

    cases = {
        "torch fp32": {n: plain(g) for n, g in generators.items()},
        "onnxruntime fp32": {n: onnxruntime_call(g, inputs, tmp) for n, g in generators.items()},
        "openvino fp32": {n: openvino_call(g, inputs, tmp) for n, g in generators.items()},
        FAST + (" + bf16" if bf16 else ""): {n: fast(g) for n, g in generators.items()},
    }
    return flops, cases


FAST = "torch channels_last"


def median_ms(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each call, after two warm-up calls, the calls taken in turn."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(2):
        for call in calls.values():
            call()
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoder = build_encoder("efficientnet-lite0", torch.device("cpu"))
    first, _ = load_model(SHIPPED, encoder)
    second = promote(first, code_dim=32).eval()
    g = torch.Generator().manual_seed(0)
    for layer in (second.scale, second.shift):
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.05)
    generators: dict[str, Generator] = {"adain-skip": first, "modulated": second}
    taps = tuple(t.name for t in first.taps)
    style = StyleStats.of(encoder(torch.rand(1, 3, 512, 512, generator=g), taps))
    print(f"threads {args.threads}; CPU native bf16: {native_bf16()}")
    print(f"{'size':>5}  {'case':<30}{'adain-skip':>11}{'modulated':>11}{'ratio':>7}")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            flops, cases = cases_at(size, encoder, generators, style, Path(tmp))
            a, b = flops["adain-skip"], flops["modulated"]
            print(f"{size:>5}  {'GFLOP, encoder + render':<30}{a:>11.2f}{b:>11.2f}{b / a:>7.2f}")
            for case, calls in cases.items():
                for gen in generators.values():
                    layout = (
                        torch.channels_last if case.startswith(FAST) else torch.contiguous_format
                    )
                    gen.to(memory_format=layout)
                ms = median_ms(calls, args.repeats)
                a, b = ms["adain-skip"], ms["modulated"]
                print(
                    f"{size:>5}  {case + ', ms':<30}{a:>11.1f}{b:>11.1f}{b / a:>7.2f}", flush=True
                )


if __name__ == "__main__":
    main()
