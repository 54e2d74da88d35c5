"""OpenVINO graphs specialised to the input shapes that come again.

OpenVINO's CPU plugin plans a static-shape graph's memory and picks its kernels once; with
dynamic H and W it does both on every call. Measured on a 2-core AMD EPYC with AVX-512 and
AVX512-BF16 (bf16, the shipped model's graphs, median of 9): the encoder 32 -> 20 ms at 512 px
and 106 -> 74 ms at 1024 px, the render graph 40 -> 34 and 132 -> 117 ms, and the encoder's peak
memory at 1024 px 265 -> 156 MiB.

A compile costs about 0.15-0.35 s (less from OpenVINO's CACHE_DIR), so a shape is specialised
on its second call (the frames of a video, the tiles of a big photo, a photo stylized again
with other settings), not its first (a one-off size runs on the dynamic graph), and only the
most recent SPECIALISED_SHAPES are kept, each holding its own buffers.

The compile runs on the caller's thread. Compiled on a background thread instead (tried, and
measured in docs/benchmarks.md), the calls that came while it ran stayed on the slower dynamic
graph and shared the two cores with it, and the two graphs' buffers were held at once: repeated
calls at one size (a video's frames, a benchmark's repeats) got slower, and the peak working
memory at 1024 px rose from 533 to 832-924 MiB.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Shape = tuple[tuple[int, ...], ...]


class CompiledGraph:
    """One compiled OpenVINO graph with its infer request (its output buffers are reused by
    the next call: one caller at a time)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.lock = threading.Lock()

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self.lock:
            result = self.request.infer(feeds, share_inputs=True)
            return [np.array(result[o], copy=True) for o in self.compiled.outputs]


class ShapeSpecialisedGraph:
    """A graph compiled for any size, plus one compiled for each input shape that comes again
    (see the module's docstring)."""

    SPECIALISE_ON_CALL = 2
    SPECIALISED_SHAPES = 4

    def __init__(self, model: Any, compile_model: Callable[[Any], Any]) -> None:
        self.model = model
        self.compile_model = compile_model
        self.dynamic: CompiledGraph | None = CompiledGraph(compile_model(model))
        self.static: OrderedDict[Shape, CompiledGraph] = OrderedDict()
        self.refused: set[Shape] = set()  # shapes whose compile failed: the dynamic graph runs them
        self.calls: Counter[Shape] = Counter()
        self.lock = threading.Lock()

    def _compile_static(self, shape: Shape) -> CompiledGraph | None:
        """The graph for one shape, or None (logged) where the plugin cannot compile it."""
        model = self.model.clone()
        model.reshape(
            {
                i.get_any_name(): list(s)
                for i, s in zip(self.model.inputs, shape, strict=True)
                if not i.get_partial_shape().is_static
            }
        )
        try:
            return CompiledGraph(self.compile_model(model))
        except Exception as err:  # an input shape the plugin cannot plan: stay dynamic
            log.warning("OpenVINO could not compile a graph for shape %s: %s", shape, err)
            self.refused.add(shape)
            return None

    def _graph_for(self, feeds: dict[str, np.ndarray]) -> CompiledGraph:
        shape = tuple(tuple(feeds[i.get_any_name()].shape) for i in self.model.inputs)
        with self.lock:
            if shape in self.static:
                self.static.move_to_end(shape)
                return self.static[shape]
            if shape not in self.refused:
                if len(self.calls) > 64:  # a stream of one-off sizes: forget them
                    self.calls.clear()
                self.calls[shape] += 1
                graph = (
                    self._compile_static(shape)
                    if self.calls[shape] >= self.SPECIALISE_ON_CALL
                    else None
                )
                if graph is not None:
                    self.static[shape] = graph
                    while len(self.static) > self.SPECIALISED_SHAPES:
                        self.static.popitem(last=False)
                    # The dynamic graph keeps the buffers of the largest shape it ran, whatever
                    # its request or release_memory(): dropped, so that the two are not held at
                    # once (at 1024 px 926 MiB of working memory with both, 706 after
                    # release_memory(), 541 dropped), and compiled again (from OpenVINO's
                    # cache) for the next new shape.
                    self.dynamic = None
                    return graph
            if self.dynamic is None:
                self.dynamic = CompiledGraph(self.compile_model(self.model))
            return self.dynamic

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._graph_for(feeds).infer(feeds)
