"""The check every graph backend's pictures pass: torch fp32's, within 1e-3."""

from __future__ import annotations

from models.images import to_tensor
from models.inference import GANStylizer
from models.networks import StyleStats
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
