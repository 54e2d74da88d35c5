"""Palette matching: Lab round trip, the painting's histograms reached in proportion to the
amount, pixel order kept, the sampled and banded match against every pixel ranked, and the
palette carried by saved and blended style statistics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image, ImageOps

from models.color import (
    MATCH_SAMPLE,
    lab_to_rgb,
    lab_to_rgb_fast,
    match_distribution,
    match_palette,
    match_palette_exact,
    palette,
    rgb_to_lab,
    rgb_to_lab_fast,
)
from models.encoders import build_random
from models.images import to_tensor
from models.inference import GANStylizer
from models.networks import GeneratorConfig, StyleStats, build_generator
from models.scores import color_distance
from tests.models.conftest import synthetic_image


def _image(seed: int, size: int = 48) -> torch.Tensor:
    return to_tensor(synthetic_image(size, size, seed=seed))  # (1, 3, H, W)


def test_lab_round_trip_returns_the_rgb_image() -> None:
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert (lab_to_rgb(rgb_to_lab(x)) - x).abs().max() < 1e-3


def test_opencvs_conversions_agree_with_the_formulas() -> None:
    """Inference converts by OpenCV (palette matching): within half a Lab unit of the torch
    formulas the losses differentiate, and a round trip within 1.5 of an 8-bit level (0.3 on
    average): under what an 8-bit result can show."""
    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    assert (rgb_to_lab_fast(x) - rgb_to_lab(x)).abs().max() < 0.5
    round_trip = (lab_to_rgb_fast(rgb_to_lab_fast(x)) - x).abs() * 255
    assert round_trip.max() < 1.5 and round_trip.mean() < 0.3
    lab = rgb_to_lab(x)
    assert (lab_to_rgb_fast(lab) - lab_to_rgb(lab)).abs().max() < 0.6 / 255
    # Out of gamut: clipped as the formulas clip.
    far = torch.tensor([[50.0, 120.0, -120.0]]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert (lab_to_rgb_fast(far) - lab_to_rgb(far)).abs().max() < 0.6 / 255
    # Where a gradient is wanted, the formulas serve.
    with torch.enable_grad():
        y = x.clone().requires_grad_(True)
        rgb_to_lab_fast(y).sum().backward()
    assert y.grad is not None


def test_full_match_takes_the_targets_histograms_and_keeps_pixel_order() -> None:
    photo, painting = _image(1), _image(2, size=40)
    target = palette(painting)
    matched = match_palette(photo, target, 1.0)
    # Each Lab channel now has the painting's quantiles, up to what the sRGB gamut clips (the
    # channels are matched one by one, so a few combinations fall outside it)...
    before = float((palette(photo) - target).abs().mean())
    assert float((palette(matched) - target).abs().mean()) < 0.5 * before
    # ...and the lightness order of the pixels is the photo's: edges stay where they were.
    lum, lum_after = rgb_to_lab(photo)[0, 0].flatten(), rgb_to_lab(matched)[0, 0].flatten()
    ranks = torch.stack([lum.argsort().argsort(), lum_after.argsort().argsort()]).float()
    corr = torch.corrcoef(ranks)
    assert corr[0, 1] > 0.95  # not 1: pixels clipped back into the gamut move a little


def test_the_amount_moves_the_histograms_part_of_the_way() -> None:
    photo, painting = _image(3), _image(4)
    target = palette(painting)
    assert torch.equal(match_palette(photo, target, 0.0), photo)
    gap = [
        float((palette(match_palette(photo, target, a)) - target).abs().mean())
        for a in (0.0, 0.5, 1.0)
    ]
    assert gap[0] > gap[1] > gap[2]
    assert gap[1] == pytest.approx(gap[0] / 2, rel=0.25)


# (photo, painting) from the shared samples: a sky, a city at night, a portrait.
REAL_PAIRS = (
    ("sailboat.jpg", "la_muse.jpg"),
    ("chicago.jpg", "asheville.jpg"),
    ("avril.jpg", "antimonocromatismo.jpg"),
)


def _fit(path: Path, width: int, height: int) -> torch.Tensor:
    with Image.open(path) as image:
        return to_tensor(ImageOps.fit(image.convert("RGB"), (width, height))).contiguous()


def test_distribution_transfer_matches_the_joint_colours_closer_than_the_channels() -> None:
    """Lightness of one picture with the chroma of another: match_palette keeps each channel's
    histogram (already the target's) and the mismatched pairs; match_distribution moves the
    joint distribution toward the target's, the same way every time."""
    photo = to_tensor(synthetic_image(96, 64, 1))
    other = to_tensor(synthetic_image(96, 64, 2))
    lab = rgb_to_lab(photo)
    paired = lab_to_rgb(torch.cat([rgb_to_lab(other)[:, :1], lab[:, 1:]], dim=1))
    by_channel = match_palette(paired, palette(photo), 1.0)
    joint = match_distribution(paired, photo)
    assert color_distance(joint, photo) < 0.8 * color_distance(by_channel, photo)
    assert torch.equal(joint, match_distribution(paired, photo))
    assert joint.shape == photo.shape and joint.min() >= 0 and joint.max() <= 1


def test_sampled_ranks_match_every_pixel_ranked_on_real_photos(samples: Path) -> None:
    # 1024x683 is 2.7 times MATCH_SAMPLE, so the ranks come from a strided sample. Measured
    # here on these pairs: mean 0.04 of an 8-bit level, 99.9th percentile 0.7, worst pixel 8
    # (a pixel whose bin sits on a spike of the histogram); the bounds leave room for that and
    # nothing more: a band written to the wrong rows, channels or pixels differs by tens.
    assert 2 * MATCH_SAMPLE < 1024 * 683
    levels = []
    for photo_name, painting_name in REAL_PAIRS:
        photo = _fit(samples / "content" / photo_name, 1024, 683)
        target = palette(_fit(samples / "style" / painting_name, 512, 384))
        for amount in (0.5, 1.0):
            fast, exact = (
                match_palette(photo, target, amount),
                match_palette_exact(photo, target, amount),
            )
            assert fast.shape == exact.shape == photo.shape
            levels.append(((fast - exact).abs() * 255).flatten())
    error = torch.cat(levels)
    assert float(error.mean()) < 0.1
    assert float(torch.quantile(error[::5], 0.999)) < 1.0
    assert float(error.max()) < 16


def test_a_padded_view_is_matched_as_its_copy_and_a_small_image_exactly() -> None:
    # The inference result is a view of the padded output; a band must read its rows, not the
    # padding. An image under MATCH_SAMPLE pixels is ranked whole: the reference's result.
    padded = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(3))
    view, target = padded[..., :64, :80], palette(_image(8))
    expected = match_palette_exact(view.contiguous(), target, 1.0)
    assert (match_palette(view, target, 1.0) - expected).abs().max() < 1e-5


def test_style_statistics_carry_the_palette_through_storage_and_blends() -> None:
    torch.manual_seed(0)
    encoder = build_random()
    config = GeneratorConfig(widths=(8, 8, 8, 8), palette_match=1.0)
    stylizer = GANStylizer(
        build_generator(config, encoder.taps), encoder, torch.device("cpu"), bf16=False,
        channels_last=False,
    )  # fmt: skip
    a, b = stylizer.style_stats(synthetic_image(32, 32, seed=5)), None
    assert a.palette is not None and a.palette.shape == (1, 3, 256)
    stored = StyleStats.from_tensors({k: v.clone() for k, v in a.to_tensors().items()})
    assert stored.palette is not None and torch.equal(stored.palette, a.palette)
    b = stylizer.style_stats(synthetic_image(32, 32, seed=6))
    half = StyleStats.blend([a, b], [1.0, 1.0])
    assert half.palette is not None
    assert torch.allclose(half.palette, (a.palette + b.palette) / 2)
    # Statistics saved before palettes existed still work: no palette, no matching.
    old = StyleStats.from_tensors({k: v for k, v in a.to_tensors().items() if k != "palette"})
    assert old.palette is None
    assert StyleStats.blend([a, old], [1.0, 1.0]).palette is None
    # The stylizer applies it: at palette_match 1 the result has the painting's palette.
    photo = synthetic_image(40, 40, seed=7)
    out = to_tensor(stylizer(photo, [stored]))
    stylizer.generator.config.palette_match = 0.0
    unmatched = to_tensor(stylizer(photo, [stored]))
    stylizer.generator.config.palette_match = 1.0
    assert (palette(out) - a.palette).abs().mean() < 0.5 * (
        palette(unmatched) - a.palette
    ).abs().mean()
    # ...but never when the photo's own colours are asked for.
    kept = to_tensor(stylizer(photo, [stored], preserve_color=True))
    assert (palette(kept) - a.palette).abs().mean() > (palette(out) - a.palette).abs().mean()
