"""Fixtures for the GAN tests: synthetic images, tiny folders, the packaged sample images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


def synthetic_image(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour gradients plus a few shapes: structure the encoder can see."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.01, 0.08, 2).tolist() + [rng.uniform(0, 6.28)]
        channels.append(0.5 + 0.5 * np.sin(fx * x + fy * y + phase))
    image = np.stack(channels, axis=-1)
    for _ in range(4):
        cx, cy, r = (
            rng.integers(0, width),
            rng.integers(0, height),
            rng.integers(4, 1 + max(5, width // 4)),
        )
        image[(x - cx) ** 2 + (y - cy) ** 2 < r**2] = rng.uniform(0, 1, 3)
    return Image.fromarray((image * 255).astype(np.uint8), "RGB")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def image_dirs(tmp_path: Path) -> tuple[Path, Path]:
    content, style = tmp_path / "content", tmp_path / "style"
    content.mkdir()
    style.mkdir()
    for i in range(3):
        synthetic_image(96, 80, seed=i).save(content / f"c{i}.png")
        synthetic_image(80, 96, seed=100 + i).save(style / f"s{i}.png")
    return content, style


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"sample images not found at {SAMPLES}")
    return SAMPLES
