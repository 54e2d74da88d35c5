"""The generator pipeline: any size in, same size out; strength; colours; tiles; style blends."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F

from models.backends import TorchBackend
from models.encoders import build_random
from models.images import to_tensor
from models.inference import GANStylizer, preserve_colors
from models.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    MultiScaleDiscriminator,
    build_generator,
)
from tests.models.conftest import synthetic_image


@pytest.fixture(scope="module")
def stylizer() -> GANStylizer:
    torch.manual_seed(0)
    encoder = build_random()
    generator = build_generator(GeneratorConfig(), encoder.taps)
    # An untrained decoder outputs a flat grey (sigmoid of ~0); a larger output gain makes its
    # image vary with the input, which these behaviour checks need. No training involved.
    with torch.no_grad():
        generator.to_rgb[1].weight.mul_(40)
    return GANStylizer(generator, encoder, torch.device("cpu"), bf16=False, channels_last=False)


@pytest.mark.parametrize("size", [(1, 1), (17, 5), (33, 200), (301, 97), (64, 64)])
def test_output_has_the_content_size_for_odd_sizes_and_aspect_ratios(
    stylizer: GANStylizer, size: tuple[int, int]
) -> None:
    content = synthetic_image(*size, seed=1)
    result = stylizer(content, [synthetic_image(40, 30, seed=2)])
    assert result.size == content.size
    assert result.mode == "RGB"


def test_strength_zero_is_the_reconstruction_and_one_differs(stylizer: GANStylizer) -> None:
    content = synthetic_image(96, 64, seed=3)
    style_a, style_b = synthetic_image(64, 64, seed=4), synthetic_image(64, 64, seed=5)
    zero_a = to_tensor(stylizer(content, [style_a], strength=0.0))
    zero_b = to_tensor(stylizer(content, [style_b], strength=0.0))
    # Strength 0 ignores the style: both equal the decoder's reconstruction D(F(c)), of the
    # photo with its bleed (a mirrored margin), cut back to the photo.
    from models.tiling import BLEED, with_bleed

    with torch.no_grad():
        x = with_bleed(to_tensor(content))
        feats = stylizer.encoder(x, stylizer.taps)
        by, bx = BLEED
        bled = stylizer.generator.decode(feats, (x.shape[-2], x.shape[-1]))
        reconstruction = bled[..., by : by + 64, bx : bx + 96]
    assert (zero_a - zero_b).abs().max() < 1 / 255 + 1e-6
    assert (zero_a - reconstruction).abs().max() < 1 / 255 + 1e-6
    full = to_tensor(stylizer(content, [style_a], strength=1.0))
    assert (full - zero_a).abs().mean() > 0.01


def test_style_weights_blend_between_styles(stylizer: GANStylizer) -> None:
    content = synthetic_image(64, 64, seed=6)
    a, b = synthetic_image(64, 64, seed=7), synthetic_image(64, 64, seed=8)
    only_a = to_tensor(stylizer(content, [a, b], weights=[1, 0]))
    assert (only_a - to_tensor(stylizer(content, [a]))).abs().max() < 2 / 255
    half = to_tensor(stylizer(content, [a, b], weights=[0.5, 0.5]))
    assert (half - only_a).abs().mean() > 0.005
    with pytest.raises(ValueError):
        stylizer(content, [a, b], weights=[1.0])


def test_saved_style_statistics_replace_the_style_image(stylizer: GANStylizer) -> None:
    content, style = synthetic_image(80, 48, seed=9), synthetic_image(70, 70, seed=10)
    stats = stylizer.style_stats(style)
    from models.networks import StyleStats

    stored = StyleStats.from_tensors({k: v.clone() for k, v in stats.to_tensors().items()})
    assert torch.equal(
        to_tensor(stylizer(content, [stored])), to_tensor(stylizer(content, [style]))
    )


def test_preserve_color_keeps_the_chroma_of_the_content(stylizer: GANStylizer) -> None:
    content = synthetic_image(72, 56, seed=11)
    result = to_tensor(stylizer(content, [synthetic_image(64, 64, seed=12)], preserve_color=True))
    plain = to_tensor(stylizer(content, [synthetic_image(64, 64, seed=12)]))
    x = to_tensor(content)

    def chroma(t: torch.Tensor) -> torch.Tensor:
        y = 0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]
        return torch.stack([t[:, 2] - y, t[:, 0] - y])

    unclipped = (preserve_colors(plain, x) - 0).clamp(0, 1)
    inside = ((unclipped > 0.02) & (unclipped < 0.98)).all(dim=1)  # pixels not clipped to [0, 1]
    assert (chroma(result) - chroma(x)).abs()[:, inside].max() < 0.02
    assert (chroma(plain) - chroma(x)).abs()[:, inside].mean() > (chroma(result) - chroma(x)).abs()[
        :, inside
    ].mean()


def test_tiled_and_untiled_outputs_agree(stylizer: GANStylizer) -> None:
    content, style = synthetic_image(224, 160, seed=13), synthetic_image(64, 64, seed=14)
    whole = to_tensor(stylizer(content, [style]))
    fractions: list[float] = []
    tiled = to_tensor(stylizer(content, [style], tile_size=128, progress=fractions.append))
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.02
    assert (
        fractions[-1] == pytest.approx(1.0)
        and fractions == sorted(fractions)
        and len(fractions) > 2
    )


def test_discriminator_gives_patch_logits_at_three_scales() -> None:
    d = MultiScaleDiscriminator(DiscriminatorConfig())
    logits = d(torch.rand(2, 3, 64, 64))
    assert len(logits) == 3
    assert all(lg.shape[0] == 2 and lg.shape[1] == 1 for lg in logits)
    assert logits[0].shape[-1] > logits[1].shape[-1] > logits[2].shape[-1]


def test_fast_defaults_match_fp32(stylizer: GANStylizer) -> None:
    """channels_last and (on CPUs with native bf16) bf16 autocast are the defaults; they must not
    change the picture beyond bf16 rounding."""
    fast = GANStylizer(stylizer.generator, stylizer.encoder, torch.device("cpu"))
    assert isinstance(fast.backend, TorchBackend) and fast.backend.channels_last
    content, style = synthetic_image(120, 88, seed=15), synthetic_image(64, 64, seed=16)
    exact = to_tensor(stylizer(content, [style]))
    quick = to_tensor(fast(content, [style]))
    assert (quick - exact).abs().mean() < 0.02


def test_vgg19_encoder_gets_its_own_generator_layout() -> None:
    from models.encoders import VGG19
    from models.train_config import default_generator_config

    encoder = VGG19().freeze()  # random weights: only the layout is under test
    config = default_generator_config(encoder)
    assert config.fuse_taps == ("relu4_1", "relu3_1", "relu2_1", "relu1_1")
    stylizer = GANStylizer(build_generator(config, encoder.taps), encoder, torch.device("cpu"))
    content = synthetic_image(45, 37, seed=17)
    assert stylizer(content, [synthetic_image(30, 30, seed=18)]).size == (45, 37)


def test_lab_conversion_matches_reference_values() -> None:
    from models.color import rgb_to_lab

    # sRGB white, black and pure red in CIE Lab (D65), as colour-science tables give them.
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).T.reshape(1, 3, 3, 1)
    lab = rgb_to_lab(rgb)[0, :, :, 0].T
    expected = torch.tensor([[100.0, 0.0, 0.0], [0.0, 0.0, 0.0], [53.24, 80.09, 67.20]])
    assert torch.allclose(lab, expected, atol=0.05)


def test_color_distance_is_zero_for_the_same_palette_and_grows_with_the_difference() -> None:
    from models.color import rgb_to_lab
    from models.losses import color_loss, sliced_wasserstein

    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 32, 32, generator=g)
    shuffled = image.flatten(2)[..., torch.randperm(32 * 32, generator=g)].reshape(2, 3, 32, 32)
    near, far = image * 0.9, image**3  # (1 - image would have the same palette as uniform noise)

    def distance(x: torch.Tensor) -> float:  # the deterministic, all-pixel form
        lab = rgb_to_lab(x), rgb_to_lab(image)
        return float(
            sliced_wasserstein(
                *lab, samples=None, generator=torch.Generator().manual_seed(1)
            ).mean()
        )

    assert distance(shuffled) < 1e-3 < distance(near) < distance(far)
    # The training form draws pixels at random: noisy, but it still orders the two clearly.
    assert float(color_loss(near, image, g)) < float(color_loss(far, image, g))
    # ...and it has a gradient: the generator can learn from it.
    x = image.clone().requires_grad_(True)
    color_loss(x, far).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_style_conditioned_discriminator_depends_on_the_condition() -> None:
    from models.networks import DiscriminatorConfig, MultiScaleDiscriminator

    torch.manual_seed(0)
    D = MultiScaleDiscriminator(DiscriminatorConfig(condition_dim=6)).eval()
    x = torch.rand(2, 3, 64, 64)
    y = torch.randn(2, 6)
    a, b = D(x, y), D(x, -y)
    assert [t.shape for t in a] == [t.shape for t in b]
    assert not torch.allclose(a[0], b[0])
    with pytest.raises(ValueError, match="conditioned"):
        D(x)


def test_refine_stage_is_stored_in_the_config_and_old_configs_load_without_it() -> None:
    from models.networks import GeneratorConfig, build_generator

    encoder = build_random(0)
    old = GeneratorConfig.from_dict(
        {"fuse_taps": ["s16x", "s8x", "s4", "s2"], "widths": [8, 8, 8, 8]}
    )
    assert old.refine_width == 0
    G = build_generator(GeneratorConfig(widths=(8, 8, 8, 8), refine_width=4), encoder.taps)
    feats = encoder(torch.rand(1, 3, 48, 64), G.config.fuse_taps)
    from models.networks import StyleStats

    out = G(feats, StyleStats.of(feats), (48, 64))
    assert out.shape == (1, 3, 48, 64)
    assert G.to_rgb[1].in_channels == 4


@pytest.mark.parametrize("length", [1040, 1056, 1376, 1680, 2048, 2736, 4096, 7008])
@pytest.mark.parametrize(("tile", "overlap"), [(1024, 224), (512, 128), (768, 64)])
def test_tiles_are_equal_on_the_stride_grid_and_share_the_overlap(
    length: int, tile: int, overlap: int
) -> None:
    from models.tiling import PAD_MULTIPLE, tile_spans

    spans = tile_spans(length, tile, overlap)
    sizes = {end - start for start, end in spans}
    assert len(sizes) == 1 and sizes.pop() <= tile  # one shape: one specialised graph
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(start % PAD_MULTIPLE == 0 for start, _ in spans)  # neighbours paint one grid
    shared = [a_end - b_start for (_, a_end), (b_start, _) in pairwise(spans)]
    assert all(s >= overlap for s in shared)
    # as few tiles as tiles of `tile` would need
    assert len(spans) == max(1, math.ceil((length - overlap) / (tile - overlap)))


@pytest.mark.parametrize(("height", "width"), [(203, 317), (331, 96), (17, 250)])
def test_tiles_are_windows_of_the_bled_photo_and_their_blend_gives_the_photo_back(
    height: int, width: int
) -> None:
    """Every photo is stylized with its bleed: a mirrored margin, made up to the encoder's
    stride. Each tile must hold the very pixels of the bled photo that a photo stylized in one
    pass is given, and blending tiles that are the bled photo itself must give the photo back
    exactly (the blend weights sum to one)."""
    from models.tiling import BLEED, PAD_MULTIPLE, bled_shape, stylize_tiled, with_bleed

    content = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(5))
    bled = with_bleed(content)
    by, bx = BLEED
    assert bled.shape[-2:] == bled_shape(height, width)
    assert all(side % PAD_MULTIPLE == 0 for side in bled.shape[-2:])
    assert torch.equal(bled[..., by : by + height, bx : bx + width], content)
    bottom, right = bled.shape[-2] - height - by, bled.shape[-1] - width - bx
    if max(by, bottom) < height and max(bx, right) < width:  # where F.pad can mirror it
        assert torch.equal(bled, F.pad(content, [bx, right, by, bottom], mode="reflect"))
    seen: list[torch.Tensor] = []

    def itself(tile: torch.Tensor, _stats: object) -> torch.Tensor:
        seen.append(tile)
        return tile

    out = stylize_tiled(
        content,
        96,
        40,
        encode=lambda x: {"s16": F.avg_pool2d(x, 16)},
        strides={"s16": 16},
        render=itself,
    )
    assert out.shape == content.shape and out.is_contiguous()
    assert torch.allclose(out, content, atol=1e-6)
    assert len(seen) > 1
    for tile in seen:  # found in the bled photo where tile_spans put it
        hits = [
            (y, x)
            for y in range(0, bled.shape[-2] - tile.shape[-2] + 1, 16)
            for x in range(0, bled.shape[-1] - tile.shape[-1] + 1, 16)
            if torch.equal(bled[..., y : y + tile.shape[-2], x : x + tile.shape[-1]], tile)
        ]
        assert hits, tile.shape


def test_tiles_drawn_from_kept_taps_match_tiles_encoded_again(stylizer: GANStylizer) -> None:
    """Pass 2 of a tiled photo renders the taps pass 1 kept (fp16) instead of encoding every
    tile again: the same picture within fp16 rounding, and the same as with no taps kept."""
    from models.tiling import stylize_tiled

    content = to_tensor(synthetic_image(200, 150, seed=21))
    style = stylizer.style_stats(synthetic_image(64, 64, seed=22))
    backend = stylizer.backend
    encoded: list[int] = []

    def encode(x: torch.Tensor) -> dict[str, torch.Tensor]:
        encoded.append(1)
        return backend.encode(x)

    def run(keep_bytes: int) -> torch.Tensor:
        encoded.clear()
        return stylize_tiled(
            content,
            96,
            24,
            encode=encode,
            strides={t.name: t.stride for t in stylizer.generator.taps},
            render=lambda x, stats: backend.render(encode(x), style, 1.0, stats)[
                ..., : x.shape[-2], : x.shape[-1]
            ],
            render_features=lambda feats, stats: backend.render(feats, style, 1.0, stats),
            keep_bytes=keep_bytes,
        )

    kept = run(keep_bytes=2**30)
    tiles = len(encoded)
    again = run(keep_bytes=0)
    assert len(encoded) == 2 * tiles  # with nothing kept, every tile is encoded twice
    assert kept.shape == again.shape == (1, 3, 150, 200)
    assert (kept - again).abs().max() < 5e-3
