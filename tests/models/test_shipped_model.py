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
        [0.8447, 0.9843, 0.5969, 0.8809],
        [0.8473, 0.5232, 0.0013, 0.6181],
        [0.2085, 0.0379, 0.1868, 0.8332],
        [0.215, 0.5589, 0.8301, 0.9655],
    ],
    [
        [0.6624, 0.7425, 0.3339, 0.4341],
        [0.2991, 0.3364, 0.6138, 0.7897],
        [0.1464, 0.3174, 0.8591, 0.9587],
        [0.1716, 0.6078, 0.9709, 0.8201],
    ],
    [
        [0.3049, 0.1963, 0.4686, 0.5535],
        [0.1215, 0.3937, 0.9754, 0.6864],
        [0.183, 0.7711, 0.9781, 0.6716],
        [0.3212, 0.8804, 0.8644, 0.2939],
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
