"""OpenVINO graphs specialised to the input shapes that come again.

OpenVINO's CPU plugin plans a static-shape graph's memory and picks its kernels once; with
dynamic H and W it does both on every call. Measured on a 2-core AMD EPYC with AVX-512 and
AVX512-BF16 (bf16, the shipped model's graphs, median of 9): the encoder 32 -> 20 ms at 512 px
and 106 -> 74 ms at 1024 px, the render graph 40 -> 34 and 132 -> 117 ms, and the encoder's peak
memory at 1024 px 265 -> 156 MiB.

A compile costs about 0.15-0.45 s (less from OpenVINO's CACHE_DIR), and what it saves a call
depends on the CPU: at 512 px about 25% of the graph's time on a Zen 4 EPYC, 9-11% of the whole
call (4-5 ms) on a Zen 5 (docs/benchmarks.md). So a small shape is specialised once its calls
on the dynamic graph have spent about what a compile costs, as in the ski-rental problem: a
compile is paid only by a shape that has already spent as much on the slower graph. A video at
640x360 reaches that within a dozen frames; a designer trying three paintings on one photo
never pays a compile they would not win back. Before, a shape was compiled on its second
call: the second call of a 512 px photo took 223-445 ms against 26-40 now. The estimate of a
compile's cost starts at COMPILE_SECONDS and follows the compiles measured.

A large shape is specialised at once: from about a 1024x768 photo on, the dynamic graph's first
call costs as much as the compile and a static call (one process, the joined graph of the
shipped model, bf16: 1024x768 380 ms dynamic against 452 compiled, 1024x1024 597 against 484;
512x384 76 against 299), and holds more memory (1024 px: 320 MiB against 174). On an AVX2
CPU in fp32 the first two calls of a 1024x768 photo took 605 + 329 ms compiled at once against
779 + 980 ms on the second-call rule (docs/benchmarks.md). Only the most recent SPECIALISED_SHAPES are kept, each holding its
own buffers. A painting's shape on the encoder is never specialised (ENCODER_DYNAMIC_VALUES):
at the style size the compile buys nothing.

The compile runs on the caller's thread. Compiled on a background thread instead (tried, and
measured in docs/benchmarks.md), the calls that came while it ran stayed on the slower dynamic
graph and shared the two cores with it, and the two graphs' buffers were held at once: repeated
calls at one size (a video's frames, a benchmark's repeats) got slower, and the peak working
memory at 1024 px rose from 533 to 832-924 MiB.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Shape = tuple[tuple[int, ...], ...]


class CompiledGraph:
    """One compiled OpenVINO graph with its infer request (one caller at a time). The outputs
    come back as numpy copies of the request's buffers (`infer`'s share_outputs=False, its
    default), so they outlive the next call without a second copy (a 4096x2731 photo's tiles
    spent 0.5 s in one)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.lock = threading.Lock()

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self.lock:
            result = self.request.infer(feeds, share_inputs=True, share_outputs=False)
            return [result[o] for o in self.compiled.outputs]


# Inputs holding at least this many values are specialised on their first call: a 1024x768
# photo's, or the features of a tile of about 0.36 MP (6.5 values per pixel). Photos up to the
# side below run on the dynamic graph the first time.
AT_ONCE_VALUES = 3 * 1024 * 768
# The largest square photo, padded to the encoder's 16 px grid, under that: 880 px.
LARGEST_DYNAMIC_SIDE = math.isqrt(AT_ONCE_VALUES // 3 - 1) // 16 * 16
# The encoder never specialises inputs of at most this many values: a painting, encoded at the
# style size (384 px, models.inference). There the dynamic graph, once warm for a shape, runs as
# fast as a compiled one, and the compile is all cost (a 2-core AMD EPYC, AVX-512 + bf16, the
# shipped model, median of 15: 384x384 8.9 ms dynamic, 9.0 compiled, 51 ms to compile; 320x384
# 9.6, 8.3 and 70 ms; against 512x512 20.8, 17.1 and 192 ms).
ENCODER_DYNAMIC_VALUES = 3 * 384 * 384


# What a small shape's compile is expected to cost before one is measured, in seconds (a 512 px
# photo's joined graph: 0.2-0.4 s on 2-core EPYCs).
COMPILE_SECONDS = 0.25


class ShapeSpecialisedGraph:
    """A graph compiled for any size, plus one compiled for each input shape whose calls have
    spent about a compile's time on it, or at once for a large one (see the module's
    docstring)."""

    SPECIALISE_ON_CALL = 2
    SPECIALISED_SHAPES = 4

    def __init__(
        self, model: Any, compile_model: Callable[[Any], Any], dynamic_values: int = 0
    ) -> None:
        """dynamic_values: inputs of at most this many values always run on the dynamic
        graph (ENCODER_DYNAMIC_VALUES for the encoder)."""
        self.model = model
        self.dynamic_values = dynamic_values
        self.compile_model = compile_model
        self.dynamic: CompiledGraph | None = CompiledGraph(compile_model(model))
        self.static: OrderedDict[Shape, CompiledGraph] = OrderedDict()
        self.refused: set[Shape] = set()  # shapes whose compile failed: the dynamic graph runs them
        self.calls: Counter[Shape] = Counter()
        # the time each shape has spent on the dynamic graph
        self.dynamic_seconds: defaultdict[Shape, float] = defaultdict(float)
        self.compile_seconds = COMPILE_SECONDS  # the expected cost of one compile
        self.clock: Callable[[], float] = time.perf_counter
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

    def _graph_for(self, shape: Shape) -> CompiledGraph:
        with self.lock:
            if shape in self.static:
                self.static.move_to_end(shape)
                return self.static[shape]
            if shape not in self.refused:
                if len(self.calls) > 64:  # a stream of one-off sizes: forget them
                    self.calls.clear()
                    self.dynamic_seconds.clear()
                self.calls[shape] += 1
                values = sum(math.prod(s) for s in shape)
                repaid = (
                    self.calls[shape] >= self.SPECIALISE_ON_CALL
                    and self.dynamic_seconds[shape] >= self.compile_seconds
                )
                if values > self.dynamic_values and (repaid or values >= AT_ONCE_VALUES):
                    # The dynamic graph keeps the buffers of the largest shape it ran, whatever
                    # its request or release_memory(): dropped before the static graph is
                    # compiled, so that the two are never held at once (at 1024 px 926 MiB of
                    # working memory with both, 706 after release_memory(), 541 dropped after
                    # the compile), and compiled again (from OpenVINO's cache) for the next
                    # new shape, or for this one if its compile fails.
                    self.dynamic = None
                    started = self.clock()
                    graph = self._compile_static(shape)
                    if graph is not None and repaid:
                        # The estimate follows what a small shape's compile costs here,
                        # halfway to each one measured (a large one's says nothing of theirs).
                        self.compile_seconds = (self.compile_seconds + self.clock() - started) / 2
                    if graph is not None:
                        self.static[shape] = graph
                        while len(self.static) > self.SPECIALISED_SHAPES:
                            self.static.popitem(last=False)
                        return graph
            if self.dynamic is None:
                self.dynamic = CompiledGraph(self.compile_model(self.model))
            return self.dynamic

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        shape = tuple(tuple(feeds[i.get_any_name()].shape) for i in self.model.inputs)
        graph = self._graph_for(shape)
        if graph is not self.dynamic:
            return graph.infer(feeds)
        started = self.clock()
        outputs = graph.infer(feeds)
        with self.lock:
            self.dynamic_seconds[shape] += self.clock() - started
        return outputs
