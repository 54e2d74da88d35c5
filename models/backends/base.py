"""What every inference backend does: run the frozen encoder, and render a picture from encoder
features and style statistics. GANStylizer (models.inference) is written once against this.

The split into two calls is what lets one exported pair of graphs serve a tiled big photo (encode
every tile for the shared statistics, then render each tile with them) and a new style (encode
the painting, keep its statistics). A photo stylized in one pass takes a third call,
`stylize`, which a graph backend runs as one graph, so that the features stay inside the engine.
"""

from __future__ import annotations

from typing import Protocol

import torch

from contracts.backends import BACKEND_CHOICES
from models.networks import StyleStats

# The choices a user names (ATELIER_BACKEND, --backend) are contracts.backends'; "auto" measures.
BACKEND_NAMES = tuple(c for c in BACKEND_CHOICES if c != "auto")

ContentStats = dict[str, tuple[torch.Tensor, torch.Tensor]]


class BackendUnavailableError(RuntimeError):
    """A backend asked for by name that cannot run here (not installed, wrong device)."""


class InferenceBackend(Protocol):
    """Runs one model's encoder and generator. Tensors in and out are on the CPU (or the torch
    backend's device), float32, (N, C, H, W) with H and W multiples of the encoder's stride."""

    name: str
    # The installed package's version ("2026.4.1"), recorded with every result.
    version: str
    # The largest square photo whose first call runs on a graph for any size (None: every
    # size alike). The warm-up stops there: a larger photo gets its own graph on its first call.
    largest_dynamic_side: int | None

    def encode(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """(1, 3, H, W) in [0, 1] -> the generator's taps, {name: (1, C, H/s, W/s)} float32."""
        ...

    def encode_with_stats(
        self, image: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], ContentStats]:
        """The taps and each tap's per-channel (mean, std) over the whole image."""
        ...

    def render(
        self,
        features: dict[str, torch.Tensor],
        style: StyleStats,
        strength: float,
        content_stats: ContentStats,
    ) -> torch.Tensor:
        """Encoder features + style + the content's per-tap (mean, std) -> (1, 3, H, W)."""
        ...

    def stylize(self, image: torch.Tensor, style: StyleStats, strength: float) -> torch.Tensor:
        """A whole photo in one call: what `encode_with_stats` then `render` give, with the
        features never leaving the engine where the backend can keep them (the graph
        backends join their two graphs into one)."""
        ...


def describe(backend: InferenceBackend) -> dict[str, str]:
    """The backend as a result records it: name, version and arithmetic (fp32 or bf16)."""
    bf16 = getattr(backend, "bf16", False) or getattr(backend, "precision", "f32") == "bf16"
    return {
        "name": backend.name,
        "version": backend.version,
        "precision": "bf16" if bf16 else "f32",
    }
