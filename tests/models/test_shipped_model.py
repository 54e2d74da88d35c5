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
# per channel: recorded when the model was shipped. A change to the encoder, AdaIN, the decoder
# or the weights moves these by far more than the tolerance; bf16 or thread counts do not.
REFERENCE_4X4: list[list[list[float]]] = [
    [
        [0.8491, 0.9669, 0.5263, 0.7762],
        [0.7856, 0.472, 0.1309, 0.6397],
        [0.1026, 0.0998, 0.4395, 0.8286],
        [0.1208, 0.5337, 0.8572, 0.9634],
    ],
    [
        [0.6497, 0.7116, 0.337, 0.4335],
        [0.3239, 0.3475, 0.5192, 0.7126],
        [0.0415, 0.3046, 0.7515, 0.8818],
        [0.0766, 0.5752, 0.9129, 0.793],
    ],
    [
        [0.3257, 0.2718, 0.4222, 0.5257],
        [0.1214, 0.3595, 0.7602, 0.6675],
        [0.0881, 0.5781, 0.853, 0.6979],
        [0.1903, 0.7555, 0.8608, 0.3513],
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
    stylizer = GANStylizer.from_file(SHIPPED, device="cpu", bf16=False, channels_last=False)
    photo, painting = synthetic_image(64, 64, seed=1), synthetic_image(64, 64, seed=2)
    out = to_tensor(stylizer(photo, [painting]))  # (1, 3, 64, 64)
    blocks = F.avg_pool2d(out, 16)[0]  # (3, 4, 4)
    assert torch.allclose(blocks, torch.tensor(REFERENCE_4X4), atol=TOLERANCE)
    # ...and the painting matters: another one moves the output well past the tolerance.
    other = to_tensor(stylizer(photo, [synthetic_image(64, 64, seed=3)]))
    assert (F.avg_pool2d(other, 16)[0] - blocks).abs().max() > 5 * TOLERANCE
