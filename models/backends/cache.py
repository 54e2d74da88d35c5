"""Where exported graphs are kept between starts: anything with `get` and `put` by key.

`GraphDirectory` is a folder on this machine (the CLI's default, under the user's cache). The
worker wraps it with the service's storage (worker.graph_cache), so a graph exported by one
worker is fetched, not exported again, by every other.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from contracts.backends import default_graph_cache_dir


class GraphCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, blob: bytes) -> None: ...


def default_cache_dir() -> Path:
    """contracts.backends.default_graph_cache_dir: the worker's default too."""
    return default_graph_cache_dir()


class GraphDirectory:
    """One file per key in a folder; written to a temporary name, then renamed into place."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()

    def _path(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"not a graph cache key: {key!r}")
        return self.root / f"{key}.bin"

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, blob: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @property
    def compiled_dir(self) -> Path:
        """OpenVINO's cache of compiled kernels, beside the graphs."""
        return self.root / "openvino-compiled"
