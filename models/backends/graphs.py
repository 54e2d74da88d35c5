"""The graph backends: ONNX Runtime and OpenVINO, each running the exported encoder and render
graphs (models.backends.export) on the CPU, and the two joined into one for a photo stylized in
one pass. They differ only in how a graph is compiled and run.

Measured on 2-core x86 CPUs (README, benchmarks/stylize.py): both beat eager torch by 2-5x on
these graphs; OpenVINO's CPU plugin (oneDNN, fused depthwise convolutions) is the faster.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from abc import abstractmethod
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from models.backends.base import BackendUnavailableError, ContentStats
from models.backends.export import (
    ExportedGraphs,
    render_input_names,
    render_inputs,
    whole_graph,
    whole_input_names,
)
from models.backends.specialise import (
    ENCODER_DYNAMIC_VALUES,
    LARGEST_DYNAMIC_SIDE,
    ShapeSpecialisedGraph,
)
from models.networks import StyleStats


def installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


class GraphBackend:
    """Feeds and fetches shared by the graph backends; subclasses compile and run a graph."""

    name = ""
    package = ""
    version = ""
    largest_dynamic_side: int | None = None  # ONNX Runtime: one graph serves every size

    def __init__(self, graphs: ExportedGraphs, threads: int) -> None:
        version = installed_version(self.package)
        if version is None:
            raise BackendUnavailableError(
                f"backend {self.name!r} needs the package {self.package}: pip install {self.package}"
            )
        self.version = version
        self.taps = graphs.taps
        self.threads = max(1, threads)
        self._render_names = render_input_names(self.taps)
        self._whole_names = whole_input_names(self.taps)
        # A painting's shape stays on a specialising backend's dynamic encoder (specialise.py).
        self._encoder = self._compile(graphs.encoder, dynamic_values=ENCODER_DYNAMIC_VALUES)
        self._render = self._compile(graphs.render)
        self._whole = self._compile(whole_graph(graphs))

    @abstractmethod
    def _compile(self, onnx: bytes, dynamic_values: int = 0) -> Any:
        """The runnable graph; a backend that specialises graphs to shapes never does so for
        inputs of at most `dynamic_values` values."""

    @abstractmethod
    def _run(self, graph: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def encode(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.encode_with_stats(image)[0]

    def encode_with_stats(
        self, image: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], ContentStats]:
        x = image.detach().float().cpu().contiguous().numpy()
        outs = [torch.from_numpy(o) for o in self._run(self._encoder, {"image": x})]
        n = len(self.taps)
        feats = dict(zip(self.taps, outs[:n], strict=True))
        stats = {t: (outs[n + i], outs[2 * n + i]) for i, t in enumerate(self.taps)}
        return feats, stats

    def render(
        self,
        features: dict[str, torch.Tensor],
        style: StyleStats,
        strength: float,
        content_stats: ContentStats,
    ) -> torch.Tensor:
        tensors = render_inputs(self.taps, features, style.to("cpu"), content_stats)
        return self._picture(self._render, self._render_names, strength, tensors)

    def stylize(self, image: torch.Tensor, style: StyleStats, strength: float) -> torch.Tensor:
        style = style.to("cpu")
        tensors = [image] + [style.mean[t] for t in self.taps] + [style.std[t] for t in self.taps]
        return self._picture(self._whole, self._whole_names, strength, tensors)

    def _picture(
        self, graph: Any, names: list[str], strength: float, tensors: list[torch.Tensor]
    ) -> torch.Tensor:
        """Run a graph whose inputs are `strength` then `tensors` (in `names`' order)."""
        feeds = {"strength": np.array(strength, dtype=np.float32)}
        for name, t in zip(names[1:], tensors, strict=True):
            feeds[name] = t.detach().float().cpu().contiguous().numpy()
        return torch.from_numpy(self._run(graph, feeds)[0])


class OnnxRuntimeBackend(GraphBackend):
    """ONNX Runtime's CPU execution provider, every graph optimisation on, its threads not
    spinning. Why: each graph is a session with its own pool of `threads`, and a pool's threads
    spin for a while after each run; the next graph's run then shared the cores with them. On a
    2-core Zen 5 EPYC (AVX-512), one process, median of 9 alternated calls at 512 px: a new
    painting 111 ms spinning, 57 not; a saved style 60 and 44; the painting's statistics alone
    26 and 13 (docs/benchmarks.md)."""

    name = "onnxruntime"
    package = "onnxruntime"

    def _compile(self, onnx: bytes, dynamic_values: int = 0) -> Any:  # one graph, every size
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])

    def _run(self, graph: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(graph.run(None, feeds))


class OpenVinoBackend(GraphBackend):
    """OpenVINO's CPU plugin, latency hint, at the precision asked for: f32, or bf16 on a CPU
    with native bf16 (AMX, AVX512-BF16), where it runs about twice as fast (README) and changes
    the evaluation's scores by well under 2%, as the torch backend's bf16 autocast does. Each
    graph is specialised to the shapes it sees again (ShapeSpecialisedGraph)."""

    name = "openvino"
    package = "openvino"
    # A warm-up at this side leaves the dynamic graph's buffers allocated for every smaller
    # first call; larger photos compile a graph for their shape at once.
    largest_dynamic_side: int | None = LARGEST_DYNAMIC_SIDE

    def __init__(
        self,
        graphs: ExportedGraphs,
        threads: int,
        compiled_cache: Path | None = None,
        precision: str = "f32",
    ) -> None:
        if precision not in ("f32", "bf16"):
            raise ValueError(f"precision {precision!r}: f32 or bf16")
        self.compiled_cache = compiled_cache
        self.precision = precision
        super().__init__(graphs, threads)

    def _compile(self, onnx: bytes, dynamic_values: int = 0) -> Any:
        import openvino as ov

        core = ov.Core()
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self.threads,
            "INFERENCE_PRECISION_HINT": self.precision,
        }
        if self.compiled_cache is not None:
            # OpenVINO's own cache of compiled kernels, keyed by the graph and its shapes: a
            # second start of the same model skips most of the compile.
            self.compiled_cache.mkdir(parents=True, exist_ok=True)
            config["CACHE_DIR"] = str(self.compiled_cache)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "graph.onnx"
            path.write_bytes(onnx)
            model = core.read_model(str(path))
        return ShapeSpecialisedGraph(
            model, lambda m: core.compile_model(m, "CPU", config), dynamic_values
        )

    def _run(self, graph: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return cast(ShapeSpecialisedGraph, graph).infer(feeds)
