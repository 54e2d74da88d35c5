"""The shipped default model: it loads strictly, its card says what its metadata says, and a
fixed photo/painting pair still gives the output recorded when it was shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models.encoders import build_encoder
from models.images import to_tensor
from models.inference import GANStylizer
from models.modelfile import load_model, read_metadata
from tests.models.conftest import synthetic_image

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped" / "atelier-default.safetensors"
CARD = SHIPPED.with_name("MODEL_CARD.md")

pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason=f"{SHIPPED} is not shipped yet")

# stylizer(synthetic 64x64 photo seed 1, synthetic 64x64 painting seed 2), fp32, averaged to 4x4
# per channel: recorded when the model was shipped. A change to the encoder, AdaIN, the decoder,
# the palette matching or the weights moves these by far more than the tolerance; bf16 or
# thread counts do not.
REFERENCE_4X4: list[list[list[float]]] = [
    [
        [0.783, 0.9862, 0.6269, 0.8689],
        [0.7835, 0.5369, 0.0013, 0.6256],
        [0.1952, 0.051, 0.2079, 0.8429],
        [0.2199, 0.5781, 0.8412, 0.9657],
    ],
    [
        [0.6282, 0.751, 0.3497, 0.42],
        [0.2912, 0.348, 0.618, 0.785],
        [0.1521, 0.3255, 0.8646, 0.9589],
        [0.1711, 0.6097, 0.97, 0.8312],
    ],
    [
        [0.2879, 0.209, 0.4914, 0.5605],
        [0.1181, 0.4146, 0.9824, 0.6855],
        [0.194, 0.7758, 0.9746, 0.6615],
        [0.3159, 0.8749, 0.8476, 0.2992],
    ],
]
TOLERANCE = 0.02  # of the [0, 1] range, per 16x16 block mean


def test_the_shipped_file_loads_strictly_with_the_lite0_encoder() -> None:
    meta = read_metadata(SHIPPED)
    encoder = build_encoder(meta["encoder"]["name"])
    generator, meta = load_model(SHIPPED, encoder)  # load_state_dict(strict=True) inside
    assert meta["encoder"]["name"] == "efficientnet-lite0" and not encoder.untrained
    assert sum(p.numel() for p in generator.parameters()) > 0
    assert SHIPPED.stat().st_size < 10_000_000  # a few MB: committed without Git LFS


def test_the_card_says_what_the_metadata_says() -> None:
    meta = read_metadata(SHIPPED)
    card = CARD.read_text()
    assert meta["recipe"]["digest"] in card and f"{meta['steps']} steps" in card
    assert meta["card"]["corpus"]["manifest_sha256"] in card
    for name, scores in meta["card"]["evaluation"]["methods"].items():
        row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        assert f"{scores['style']:.3f}" in row and f"{scores['ssim']:.3f}" in row
    # The registry's copy of the model's own scores is the card's GAN row.
    gan = meta["card"]["evaluation"]["methods"]["gan"]
    assert meta["evaluation"]["style"] == gan["style"]
    json.dumps(meta)  # plain JSON all the way down


def test_a_fixed_pair_gives_the_recorded_output() -> None:
    stylizer = GANStylizer.from_file(
        SHIPPED, device="cpu", backend="torch", bf16=False, channels_last=False
    )
    photo, painting = synthetic_image(64, 64, seed=1), synthetic_image(64, 64, seed=2)
    out = to_tensor(stylizer(photo, [painting]))  # (1, 3, 64, 64)
    blocks = F.avg_pool2d(out, 16)[0]  # (3, 4, 4)
    assert torch.allclose(blocks, torch.tensor(REFERENCE_4X4), atol=TOLERANCE)
    # ...and the painting matters: another one moves the output well past the tolerance.
    other = to_tensor(stylizer(photo, [synthetic_image(64, 64, seed=3)]))
    assert (F.avg_pool2d(other, 16)[0] - blocks).abs().max() > 5 * TOLERANCE
