"""A teacher for distillation: a trained model file whose results a student generator learns to
paint (`TrainConfig.teacher`), e.g. the shipped model teaching a cheaper head
(models/subpixel.py), so the student keeps its scores without a GAN run of its own."""

from __future__ import annotations

from pathlib import Path

import torch

from models import losses
from models.encoders import Encoder
from models.modelfile import load_model
from models.networks import StyleStats


class Teacher:
    """The frozen teacher and the encoder taps its feature term compares."""

    def __init__(
        self, path: str | Path, encoder: Encoder, device: torch.device, taps: tuple[str, ...]
    ) -> None:
        self.generator = load_model(path, encoder)[0].to(device).eval().requires_grad_(False)
        self.encoder, self.taps = encoder, taps

    @torch.no_grad()
    def paint(
        self, c_feats: dict[str, torch.Tensor], style: StyleStats, size: tuple[int, int]
    ) -> torch.Tensor:
        return self.generator(c_feats, style, size).float()

    def terms(
        self,
        result: torch.Tensor,
        result_feats: dict[str, torch.Tensor],
        c_feats: dict[str, torch.Tensor],
        style: StyleStats,
        size: tuple[int, int],
        features: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixels' L1, encoder-feature term) of the student's `result` against the teacher's
        result for the same photo and painting; the second is zero unless `features`."""
        taught = self.paint(c_feats, style, size)
        pixels = losses.teacher_loss(result, taught)
        if not features:
            return pixels, torch.zeros(())
        with torch.no_grad():
            taught_feats = self.encoder(taught, self.taps)
        return pixels, losses.teacher_feature_loss(result_feats, taught_feats, self.taps)
