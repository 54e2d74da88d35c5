"""Inference backends: one model, several engines behind one call (GANStylizer's).

``open_backend(choice, encoder, generator, device, ...)`` gives what runs a model's encoder and
generator: ``torch`` (eager; CUDA and MPS always run here), ``onnxruntime`` or ``openvino`` (the
exported graphs on the CPU, models.backends.export), or ``auto``: on a CPU every installed graph
backend whose graphs pass the parity check is timed against torch on the probe image, and the
fastest serves (`atelier backends` repeats the measurement). A graph backend that cannot export or
whose graphs differ from torch fp32 by more than PARITY_TOLERANCE is refused with a log line and
torch serves: never a silent wrong picture. A backend named but not installed is an error at
start (BackendUnavailableError), never a failure mid-job.
"""

from models.backends.base import (
    BACKEND_CHOICES,
    BACKEND_NAMES,
    BackendUnavailableError,
    ContentStats,
    InferenceBackend,
    describe,
)
from models.backends.cache import GraphCache, GraphDirectory
from models.backends.select import check_choice, measure, open_backend
from models.backends.torch_backend import TorchBackend, cpu_has_bf16

__all__ = [
    "BACKEND_CHOICES",
    "BACKEND_NAMES",
    "BackendUnavailableError",
    "ContentStats",
    "GraphCache",
    "GraphDirectory",
    "InferenceBackend",
    "TorchBackend",
    "check_choice",
    "cpu_has_bf16",
    "describe",
    "measure",
    "open_backend",
]
