"""The inference backends a worker can run a model on, named without importing any of them.

The API validates `ATELIER_BACKEND` at start with this list (a typo fails there, naming the
choices), and a worker refuses to start when the backend it is told to use is not installed,
instead of failing its first job. models.backends implements them.
"""

import importlib.util
import os
from pathlib import Path

BACKEND_CHOICES = ("auto", "torch", "onnxruntime", "openvino")
# The import name each backend needs (auto needs torch only: it falls back to it).
BACKEND_MODULES = {
    "auto": "torch",
    "torch": "torch",
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
}


def check_backend_choice(choice: str) -> str:
    """The choice itself, or ValueError naming the choices."""
    if choice not in BACKEND_CHOICES:
        raise ValueError(f"unknown backend {choice!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    return choice


def missing_backend(choice: str) -> str | None:
    """Why `choice` cannot run on this machine (its package is not installed), or None."""
    module = BACKEND_MODULES[check_backend_choice(choice)]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a half-removed module
        found = False
    if not found:
        return f"backend {choice!r} needs the package {module}: pip install {module}"
    return None


def default_graph_cache_dir() -> Path:
    """Where exported graphs are kept on this machine when no setting says: $ATELIER_GRAPH_CACHE,
    else $XDG_CACHE_HOME/atelier/graphs (~/.cache/atelier/graphs). Graphs are keyed by the
    content they were made from, so every data folder and the CLI on one machine share them: a
    fresh `atelier serve` does not export again what an earlier one did."""
    if os.environ.get("ATELIER_GRAPH_CACHE"):
        return Path(os.environ["ATELIER_GRAPH_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "atelier" / "graphs"
