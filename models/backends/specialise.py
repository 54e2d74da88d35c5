"""OpenVINO graphs specialised to the input shapes that come again, compiled off the caller's
path.

OpenVINO's CPU plugin plans a static-shape graph's memory and picks its kernels once; with
dynamic H and W it does both on every call. Measured on a 2-core AMD EPYC with AVX-512 and
AVX512-BF16 (bf16, the shipped model's graphs, median of 9): the encoder 32 -> 20 ms at 512 px
and 106 -> 74 ms at 1024 px, the render graph 40 -> 34 and 132 -> 117 ms, and the encoder's peak
memory at 1024 px 265 -> 156 MiB.

A compile costs about 0.2 s (less from OpenVINO's CACHE_DIR). A shape is specialised from its
second call (the frames of a video, the tiles of a big photo, a photo stylized again with other
settings), not its first (a one-off size runs on the dynamic graph), and the compile runs on a
background thread: that call, and any that come before the compile ends, run on the dynamic
graph. Compiled on the caller's thread instead, a fresh service's second 512 px job waited
0.7 s for three compiles (the painting's, the encoder's and the render's shapes) where the
first took 0.46 s and the third 0.11 s. Only the most recent SPECIALISED_SHAPES are kept, each
holding its own buffers.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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


def _release(graph: CompiledGraph) -> None:
    """Nothing: the graph's last reference goes when the compiler's thread ends this task."""
    del graph


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
        self.compiling: dict[Shape, Future[CompiledGraph]] = {}
        self.refused: set[Shape] = set()  # shapes whose compile failed: the dynamic graph runs them
        self.calls: Counter[Shape] = Counter()
        self.lock = threading.Lock()
        self._compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openvino-compile")

    def _compile_static(self, shape: Shape) -> CompiledGraph:
        model = self.model.clone()
        model.reshape(
            {
                i.get_any_name(): list(s)
                for i, s in zip(self.model.inputs, shape, strict=True)
                if not i.get_partial_shape().is_static
            }
        )
        graph = CompiledGraph(self.compile_model(model))
        # One pass on zeros here too: a static graph's first call allocates its buffers (70 ms
        # of a 512 px job's encoder and render), and it should not be a job's.
        graph.infer(
            {
                i.get_any_name(): np.zeros(s, dtype=i.get_element_type().to_dtype())
                for i, s in zip(self.model.inputs, shape, strict=True)
            }
        )
        return graph

    def _collect(self) -> None:
        """Take in the compiles that have ended (under self.lock)."""
        for shape, future in list(self.compiling.items()):
            if not future.done():
                continue
            del self.compiling[shape]
            try:
                self.static[shape] = future.result()
            except Exception as err:  # an input shape the plugin cannot plan: stay dynamic
                log.warning("OpenVINO could not compile a graph for shape %s: %s", shape, err)
                self.refused.add(shape)
                continue
            while len(self.static) > self.SPECIALISED_SHAPES:
                self.static.popitem(last=False)
            # The dynamic graph keeps the buffers of the largest shape it ran, whatever its
            # request or release_memory(): dropped, so that the two are not held at once (at
            # 1024 px 926 MiB of working memory with both, 706 after release_memory(), 541
            # dropped), and compiled again (from OpenVINO's cache) for the next new shape.
            # Freed on the compiler's thread: freeing its buffers took 15-30 ms of a job.
            if not self.compiling and self.dynamic is not None:
                self._compiler.submit(_release, self.dynamic)
                self.dynamic = None

    def _graph_for(self, feeds: dict[str, np.ndarray]) -> CompiledGraph:
        shape = tuple(tuple(feeds[i.get_any_name()].shape) for i in self.model.inputs)
        with self.lock:
            self._collect()
            if shape in self.static:
                self.static.move_to_end(shape)
                return self.static[shape]
            if shape not in self.compiling and shape not in self.refused:
                if len(self.calls) > 64:  # a stream of one-off sizes: forget them
                    self.calls.clear()
                self.calls[shape] += 1
                if self.calls[shape] >= self.SPECIALISE_ON_CALL:
                    self.compiling[shape] = self._compiler.submit(self._compile_static, shape)
            if self.dynamic is None:
                self.dynamic = CompiledGraph(self.compile_model(self.model))
            return self.dynamic

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._graph_for(feeds).infer(feeds)

    def settle(self) -> None:
        """Wait for the compiles under way and take them in (a warm-up's last step; tests)."""
        with self.lock:
            pending = list(self.compiling.values())
        for future in pending:
            future.exception()  # waits; a failure is logged by _collect
        with self.lock:
            self._collect()
