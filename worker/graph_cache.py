"""Exported inference graphs shared by every worker (models.backends.cache.GraphCache).

A worker looks in its own folder first (ATELIER_GRAPH_CACHE_DIR), then in the job store's
`exported_graphs` table and storage; the first worker to need a model's graphs exports them and
puts them in both, so a second worker, or this one after a restart, never exports again.
"""

import logging
from typing import Any

from app import crud

log = logging.getLogger("atelier.worker")


class StoredGraphs:
    def __init__(self, rt: Any) -> None:  # worker.runtime.Runtime (it imports this module)
        from models.backends import GraphDirectory

        self.rt = rt
        self.local = GraphDirectory(rt.settings.graph_cache_path)
        # OpenVINO's compiled kernels stay on this machine's disk.
        self.compiled_dir = self.local.compiled_dir

    def get(self, key: str) -> bytes | None:
        with self.rt.sessions() as session:
            row = crud.get_exported_graph(session, key=key)
        shared = row is not None and self.rt.storage.exists(row.graph_sha256)
        blob = self.local.get(key)
        if blob is not None:
            if not shared:  # this machine has it, the others do not (a new store): share it
                self.put(key, blob)
            return blob
        if row is None or not shared:
            return None
        blob = self.rt.storage.get(row.graph_sha256)
        self.local.put(key, blob)
        log.info("exported graphs %s fetched from storage", key)
        return blob

    def put(self, key: str, blob: bytes) -> None:
        self.local.put(key, blob)
        graph_sha256 = self.rt.storage.put(blob)
        with self.rt.sessions() as session:
            crud.save_exported_graph(session, key=key, graph_sha256=graph_sha256)
