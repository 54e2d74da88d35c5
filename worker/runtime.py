"""What a worker process keeps between tasks: settings, database, storage, loaded models."""

import os
import socket
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app import crud
from app.config import Settings, get_settings
from app.db import check_migrated, make_engine, make_sessionmaker
from app.storage import Storage, storage_for

MAX_CACHED_STYLES = 256  # a few KiB each
MAX_LOADED_MODELS = 2  # the optimisation method plus one GAN fits any card we target


@dataclass
class Runtime:
    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage
    name: str
    _stylizers: "OrderedDict[str, Any]" = field(default_factory=OrderedDict)
    _style_stats: "OrderedDict[tuple[str, str], Any]" = field(default_factory=OrderedDict)

    def style_stats(self, stylizer: Any, model_key: str, style_key: str, image: Any) -> Any:
        """A style image's statistics for a model, computed once: kept in this process and, in
        storage (`style_stats`), for every worker, so a saved or built-in style reused by many
        jobs costs one encoder pass in all, not one per job or per worker."""
        key = (model_key, style_key)
        if key in self._style_stats:
            self._style_stats.move_to_end(key)
            return self._style_stats[key]
        stats = self._stored_style_stats(stylizer, model_key, style_key, image)
        self._style_stats[key] = stats
        while len(self._style_stats) > MAX_CACHED_STYLES:
            self._style_stats.popitem(last=False)
        return stats

    def load_stats(self, stats_key: str) -> Any:
        """Style statistics kept in storage (safetensors bytes)."""
        from safetensors.torch import load

        from models.networks import StyleStats

        return StyleStats.from_tensors(load(self.storage.get(stats_key)))

    def store_stats(self, stats: Any) -> str:
        """Put style statistics in storage; returns their key."""
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in stats.to_tensors().items()}
        return self.storage.put(save(tensors))

    def _stored_style_stats(self, stylizer: Any, model_key: str, style_key: str, image: Any) -> Any:
        with self.sessions() as session:
            row = crud.get_style_stats(session, image_sha256=style_key, model_key=model_key)
        if row is not None:
            return self.load_stats(row.stats_sha256)
        stats = stylizer.style_stats(image())
        stats_key = self.store_stats(stats)
        with self.sessions() as session:
            crud.save_style_stats(
                session, image_sha256=style_key, model_key=model_key, stats_sha256=stats_key
            )
        return stats

    def graph_cache(self) -> Any:
        """Exported graphs: this machine's folder, backed by the job store and storage."""
        from worker.graph_cache import StoredGraphs

        return StoredGraphs(self)

    def stylizer(self, model_path: Path | None, cache_key: str) -> Any:
        """Load a model once per process and keep it (loading costs seconds, a job milliseconds)."""
        if cache_key in self._stylizers:
            self._stylizers.move_to_end(cache_key)
            return self._stylizers[cache_key]
        from models.inference import load_stylizer

        stylizer = load_stylizer(
            model_path,
            encoder=self.settings.encoder,
            device=self.settings.device,
            optimisation_steps=self.settings.optimisation_steps,
            optimisation_size=self.settings.optimisation_size,
            **(
                {
                    "backend": self.settings.backend,
                    "graph_cache": self.graph_cache(),
                    "precision": self.settings.inference_precision,
                }
                if model_path
                else {}
            ),
        )
        self._stylizers[cache_key] = stylizer
        while len(self._stylizers) > MAX_LOADED_MODELS:
            self._stylizers.popitem(last=False)
        return stylizer


@lru_cache
def runtime() -> Runtime:
    settings = get_settings()
    engine = make_engine(settings.sqlalchemy_url)
    check_migrated(engine)
    return Runtime(
        settings=settings,
        sessions=make_sessionmaker(engine),
        storage=storage_for(settings),
        name=f"{socket.gethostname()}:{os.getpid()}",
    )
