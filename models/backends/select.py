"""Which backend serves a model: the one named, or for `auto` the fastest that passes the
parity check, measured once per architecture, machine and package versions and remembered in
the graph cache (a later start, or a fine-tuned model, compiles only the winner; `atelier
backends` measures again)."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from contracts.backends import check_backend_choice as check_choice
from models.backends.base import BackendUnavailableError, InferenceBackend
from models.backends.cache import GraphCache
from models.backends.export import (
    PARITY_TOLERANCE,
    ExportedGraphs,
    ExportRefusedError,
    encoder_key,
    export_encoder,
    export_render,
    graph_key,
    probe_image,
)
from models.backends.graphs import (
    GraphBackend,
    OnnxRuntimeBackend,
    OpenVinoBackend,
    installed_version,
)
from models.backends.torch_backend import TorchBackend, cpu_has_bf16
from models.encoders import Encoder
from models.networks import Generator, StyleStats

log = logging.getLogger("atelier.backends")

__all__ = ["check_choice", "measure", "open_backend"]

GRAPH_BACKENDS: dict[str, type[GraphBackend]] = {
    "onnxruntime": OnnxRuntimeBackend,
    "openvino": OpenVinoBackend,
}


def installed_graph_backends() -> list[str]:
    return [n for n, cls in GRAPH_BACKENDS.items() if installed_version(cls.package) is not None]


def _both_paths(
    backend: InferenceBackend, image: torch.Tensor, style: StyleStats
) -> tuple[torch.Tensor, torch.Tensor]:
    """The probe picture in one pass (`stylize`, a graph backend's joined graph) and as a tile
    is drawn (`encode_with_stats`, then `render`): each path runs its own graphs."""
    feats, stats = backend.encode_with_stats(image)
    return backend.stylize(image, style, 1.0), backend.render(feats, style, 1.0, stats)


def parity(backend: InferenceBackend, reference: TorchBackend) -> float:
    """Max abs difference of `backend`'s picture to torch fp32's on the probe image, by either
    path, with the probe's own statistics as the style (every tap exercised, values of a real
    picture)."""
    image = probe_image()
    style = StyleStats.of(reference.encode(probe_image(96).flip(-1)))
    expected = reference.stylize(image, style, 1.0)
    return max(float((got - expected).abs().max()) for got in _both_paths(backend, image, style))


def _cached(
    key: str | None, cache: GraphCache | None, what: str, export: Callable[[], bytes]
) -> bytes:
    if key is not None and cache is not None:
        blob = cache.get(key)
        if blob is not None:
            return blob
    started = time.perf_counter()
    blob = export()
    log.info("exported the %s graph in %.1f s", what, time.perf_counter() - started)
    if key is not None and cache is not None:
        cache.put(key, blob)
    return blob


def _graphs(
    encoder: Encoder, generator: Generator, model_sha256: str | None, cache: GraphCache | None
) -> ExportedGraphs:
    """Both graphs, from the cache or exported (and then cached). Raises ExportRefusedError."""
    taps = tuple(t.name for t in generator.taps)
    render = _cached(
        graph_key(model_sha256) if model_sha256 else None,
        cache,
        "generator",
        lambda: export_render(encoder, generator),
    )
    encoded = _cached(
        encoder_key(encoder, taps), cache, "encoder", lambda: export_encoder(encoder, taps)
    )
    return ExportedGraphs(encoded, render, taps)


def _graph_backend(
    name: str, graphs: ExportedGraphs, threads: int, cache: GraphCache | None, precision: str
) -> GraphBackend:
    if name == "openvino":
        compiled = getattr(cache, "compiled_dir", None)
        return OpenVinoBackend(graphs, threads, compiled, precision)
    return GRAPH_BACKENDS[name](graphs, threads)  # ONNX Runtime's CPU kernels: fp32


def _times(backends: list[InferenceBackend], side: int, rounds: int) -> list[float]:
    """Best seconds per probe picture of `side` px of each backend (in one pass, as a job's
    photo runs), the backends taking turns round by round, so that another process's load
    falls on all of them alike."""
    image = probe_image(side)
    style = StyleStats.of(backends[0].encode(probe_image(96)))
    for b in backends:
        for _ in range(2):  # warm: first calls allocate, choose kernels, specialise the shape
            b.stylize(image, style, 1.0)
    best = [float("inf")] * len(backends)
    for _ in range(rounds):
        for i, b in enumerate(backends):
            started = time.perf_counter()
            b.stylize(image, style, 1.0)
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def machine_signature(threads: int) -> str:
    """What a measured choice depends on: the CPU, the thread count and the packages."""
    try:
        cpu = next(
            (line for line in Path("/proc/cpuinfo").read_text().splitlines() if "flags" in line),
            "",
        )
    except OSError:
        cpu = ""
    versions = [str(torch.__version__)] + [
        installed_version(cls.package) or "-" for cls in GRAPH_BACKENDS.values()
    ]
    text = "|".join([platform.machine(), platform.processor(), cpu, str(threads), *versions])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_bf16(precision: str, device: torch.device) -> bool:
    """Whether to compute in bf16: asked for, or auto on a CUDA device or a CPU with native bf16
    (without it bf16 is emulated, and slower)."""
    if precision not in ("auto", "f32", "bf16"):
        raise ValueError(f"unknown precision {precision!r}; choose one of auto, f32, bf16")
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def auto_key(encoder: Encoder, generator: Generator, threads: int, bf16: bool) -> str:
    """What auto's measured choice is remembered under: the architecture (not the weights: a
    fine-tuned model runs as fast as its base), the encoder, this machine and the packages."""
    config = json.dumps(generator.config.to_dict(), sort_keys=True, default=str)
    architecture = hashlib.sha256(config.encode()).hexdigest()[:16]
    taps = tuple(t.name for t in generator.taps)
    return (
        f"auto-{architecture}-{encoder_key(encoder, taps)}-{machine_signature(threads)}"
        f"-{'bf16' if bf16 else 'f32'}"
    )


def _checked(
    names: list[str],
    graphs: ExportedGraphs,
    reference: TorchBackend,
    threads: int,
    cache: GraphCache | None,
    bf16: bool,
) -> list[InferenceBackend]:
    """The named graph backends that compile the graphs and pass the parity check. The check
    runs in fp32 (it proves the export); a backend that can then serves in bf16 when asked."""
    passed: list[InferenceBackend] = []
    for name in names:
        try:
            backend = _graph_backend(name, graphs, threads, cache, "f32")
            diff = parity(backend, reference)
        except Exception as err:  # a graph the engine cannot compile or run
            log.error("backend %s refused the graphs (%s: %s)", name, type(err).__name__, err)
            continue
        if diff > PARITY_TOLERANCE:
            log.error(
                "backend %s refused: its picture differs from torch fp32 by %.2g (> %g) on the "
                "probe image",
                name,
                diff,
                PARITY_TOLERANCE,
            )
            continue
        log.info("backend %s %s: parity %.1e on the probe image", name, backend.version, diff)
        if bf16 and name == "openvino":
            backend = _graph_backend(name, graphs, threads, cache, "bf16")
        passed.append(backend)
    return passed


def measure(
    backends: list[InferenceBackend], side: int = 512, rounds: int = 5
) -> list[tuple[float, InferenceBackend]]:
    """Seconds per probe picture of each backend (best of `rounds`, interleaved), fastest
    first. At 512 px, a job's usual size: at 384 px torch (bf16) and OpenVINO tied on a 2-core
    AVX-512 EPYC without AMX (45 and 47 ms) where a 512 px job took 94 and 55 ms."""
    timed = list(zip(_times(backends, side, rounds), backends, strict=True))
    for seconds, b in timed:
        log.info("auto: %s %.1f ms on the %d px probe", b.name, seconds * 1000, side)
    return sorted(timed, key=lambda pair: pair[0])


def open_backend(
    choice: str,
    encoder: Encoder,
    generator: Generator,
    device: torch.device,
    *,
    model_sha256: str | None = None,
    cache: GraphCache | None = None,
    threads: int | None = None,
    remeasure: bool = False,
    precision: str = "auto",
    channels_last: bool | None = None,
) -> InferenceBackend:
    """The backend that runs this model (see the package docstring for `choice`). With
    `remeasure`, auto measures again instead of taking the remembered choice. `precision`:
    f32, bf16, or auto (bf16 where the CPU has native bf16 arithmetic, as shipped)."""
    check_choice(choice)
    threads = threads or torch.get_num_threads()
    bf16 = resolve_bf16(precision, device)

    def on_torch() -> InferenceBackend:
        return TorchBackend(encoder, generator, device, bf16=bf16, channels_last=channels_last)

    if choice == "torch" or (device.type != "cpu" and choice == "auto"):
        return on_torch()
    if device.type != "cpu":
        raise BackendUnavailableError(f"backend {choice!r} runs on the CPU, not {device}")
    names = [choice] if choice != "auto" else installed_graph_backends()
    for name in names:
        if installed_version(GRAPH_BACKENDS[name].package) is None:
            raise BackendUnavailableError(
                f"backend {name!r} is not installed: pip install {GRAPH_BACKENDS[name].package}"
            )
    remembered_key = (
        auto_key(encoder, generator, threads, bf16)
        if choice == "auto" and cache is not None
        else None
    )
    race = choice == "auto"  # measure the candidates against torch, unless already measured
    if remembered_key and cache is not None and not remeasure:
        blob = cache.get(remembered_key)
        remembered = json.loads(blob).get("choice") if blob else None
        if remembered == "torch":
            return on_torch()
        if remembered in names:
            names, race = [remembered], False
    if not names:
        return on_torch()
    try:
        graphs = _graphs(encoder, generator, model_sha256, cache)
    except ExportRefusedError as err:
        log.error("graph export refused, serving on torch: %s", err)
        return on_torch()
    reference = TorchBackend.exact(encoder, generator)
    passed = _checked(names, graphs, reference, threads, cache, bf16)
    if not race:  # named, or auto's remembered winner
        return passed[0] if passed else on_torch()
    fastest = measure([*passed, on_torch()])[0][1]
    if remembered_key and cache is not None:
        cache.put(remembered_key, json.dumps({"choice": fastest.name}).encode())
    return fastest
