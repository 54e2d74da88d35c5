"""The torch backend: the model's own modules, on any device torch has (CUDA stays here)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import torch

from models.backends.base import ContentStats
from models.encoders import Encoder
from models.losses import mean_std
from models.networks import Generator, StyleStats


@functools.cache
def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX); without it bf16 is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class TorchBackend:
    """Eager PyTorch. On a CPU with native bf16, bf16 autocast and channels_last by default
    (measured faster there than fp32; benchmarks/stylize.py); `exact()` is the fp32 reference
    every exported graph is checked against."""

    name = "torch"
    version = str(torch.__version__)
    largest_dynamic_side: int | None = None

    def __init__(
        self,
        encoder: Encoder,
        generator: Generator,
        device: torch.device,
        *,
        bf16: bool | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.device = device
        self.encoder = encoder.to(device)
        self.generator = generator.to(device).eval()
        if bf16 is None:
            bf16 = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
        self.bf16 = bf16
        self.channels_last = device.type != "mps" if channels_last is None else channels_last
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.encoder.to(memory_format=torch.channels_last)
        self.taps = tuple(t.name for t in generator.taps)

    @classmethod
    def exact(cls, encoder: Encoder, generator: Generator) -> TorchBackend:
        """fp32, contiguous, on the CPU: the reference output."""
        return cls(encoder, generator, torch.device("cpu"), bf16=False, channels_last=False)

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        if self.bf16:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                yield
        else:
            yield

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.inference_mode()
    def encode(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with self._autocast():
            feats = self.encoder(self._prepare(image), self.taps)
        return {t: f.float() for t, f in feats.items()}

    def encode_with_stats(
        self, image: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], ContentStats]:
        feats = self.encode(image)
        return feats, {t: mean_std(f) for t, f in feats.items()}

    @torch.inference_mode()
    def render(
        self,
        features: dict[str, torch.Tensor],
        style: StyleStats,
        strength: float,
        content_stats: ContentStats,
    ) -> torch.Tensor:
        with self._autocast():
            out = self.generator.render(
                {t: self._prepare(f) for t, f in features.items()},
                style.to(self.device),
                strength,
                {t: (m.to(self.device), s.to(self.device)) for t, (m, s) in content_stats.items()},
            )
        return out.float().cpu()

    def stylize(self, image: torch.Tensor, style: StyleStats, strength: float) -> torch.Tensor:
        features, stats = self.encode_with_stats(image)
        return self.render(features, style, strength, stats)
