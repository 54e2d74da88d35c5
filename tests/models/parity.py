"""The check every graph backend's pictures pass: torch fp32's, within 1e-3."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from models.backends import GraphDirectory, TorchBackend, open_backend
from models.encoders import Encoder
from models.images import to_tensor
from models.inference import GANStylizer
from models.modelfile import load_model, save_model
from models.networks import Generator, StyleStats
from tests.models.conftest import synthetic_image


def assert_paints_as(stylizer: GANStylizer, reference: GANStylizer) -> StyleStats:
    """Odd sizes (padded to the stride) and a tiled photo: within 1e-3 of `reference`. Returns
    the style the two painted with (the reference's encoding of a synthetic painting)."""
    style = reference.style_stats(synthetic_image(70, 90, seed=3))
    content = synthetic_image(150, 97, seed=4)
    for tile_size in (None, 64):
        got = stylizer.stylize_tensor(to_tensor(content), style, tile_size=tile_size)
        want = reference.stylize_tensor(to_tensor(content), style, tile_size=tile_size)
        assert got.shape == want.shape == (1, 3, 97, 150)
        assert (got - want).abs().max() < 1e-3
    return style


def assert_model_file_paints_as_torch(
    name: str, generator: Generator, encoder: Encoder, folder: Path
) -> Generator:
    """Save `generator` as a model file, load it back, open graph backend `name` on it (its
    export passes its own parity check) and `assert_paints_as` torch fp32. Returns the loaded
    generator."""
    path = folder / "model.safetensors"
    save_model(path, generator.eval(), encoder)
    loaded, _ = load_model(path, encoder)
    cpu = torch.device("cpu")
    backend = open_backend(
        name,
        encoder,
        loaded,
        cpu,
        model_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        cache=GraphDirectory(),
        precision="f32",  # parity is judged against torch fp32
    )
    stylizer = GANStylizer(loaded, encoder, cpu, backend=backend)
    assert stylizer.backend_info["name"] == name  # the export passed its parity check
    reference = GANStylizer(loaded, encoder, cpu, backend=TorchBackend.exact(encoder, loaded))
    assert_paints_as(stylizer, reference)
    return loaded
