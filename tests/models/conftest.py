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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GAN trained 2 steps at 32 px with the random encoder by `atelier train`."""
    from typer.testing import CliRunner

    from cli.main import app

    root = tmp_path_factory.mktemp("tiny")
    (root / "content").mkdir()
    (root / "style").mkdir()
    for i in range(2):
        synthetic_image(80, 64, seed=i).save(root / "content" / f"c{i}.png")
        synthetic_image(64, 80, seed=50 + i).save(root / "style" / f"s{i}.jpg")
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--content-dir", str(root / "content"),
            "--style-dir", str(root / "style"),
            "--out", str(root / "m.safetensors"),
            "--steps", "2",
            "--image-size", "32",
            "--batch-size", "2",
            "--encoder", "random",
            "--device", "cpu",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "UNTRAINED" in result.stderr
    assert (root / "m.safetensors").is_file() and (root / "m.safetensors.ckpt").is_file()
    return root / "m.safetensors"
