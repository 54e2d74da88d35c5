"""Finer control of the style (issue 21): colour and texture apart, and the stroke scale."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from contracts.stylize import STROKE_SCALE_MAX, resolve_controls, stroke_working_side
from models.color import palette, rgb_to_lab
from models.controls import blend_controls
from models.encoders import build_random
from models.guided import carry_to_photo, guided_upsample, resize_longer
from models.images import to_tensor
from models.inference import GANStylizer
from models.networks import GeneratorConfig, build_generator
from models.scores import color_distance, content_ssim
from tests.models.conftest import synthetic_image

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "shipped" / "atelier-default.safetensors"
PAINTING = ROOT / "app" / "builtin_styles" / "great-wave.jpg"


@pytest.fixture(scope="module")
def tiny() -> GANStylizer:
    torch.manual_seed(0)
    encoder = build_random()
    generator = build_generator(GeneratorConfig(), encoder.taps)
    with torch.no_grad():  # a visible output from an untrained decoder (see test_generator)
        generator.to_rgb[1].weight.mul_(40)
    return GANStylizer(generator, encoder, torch.device("cpu"), bf16=False, channels_last=False)


def test_the_four_corners_are_the_photo_the_repainted_photo_and_the_two_stylized() -> None:
    photo = to_tensor(synthetic_image(64, 48, 1))
    stylized = to_tensor(synthetic_image(64, 48, 2))
    painting = palette(to_tensor(synthetic_image(40, 40, 3)))

    def lab(color: float, texture: float) -> torch.Tensor:
        return rgb_to_lab(blend_controls(photo, stylized, painting, color, texture))

    # Nothing asked: the photo (within the Lab round trip).
    assert (blend_controls(photo, stylized, painting, 0.0, 0.0) - photo).abs().max() < 2e-3
    # Colour 0 keeps the photo's chroma whatever the texture; texture 0 keeps its structure.
    # (up to the gamut: a new lightness with the photo's chroma may not exist in sRGB).
    chroma = rgb_to_lab(photo)[:, 1:]
    stylized_chroma_change = (rgb_to_lab(stylized)[:, 1:] - chroma).abs().mean()
    assert (lab(0.0, 1.0)[:, 1:] - chroma).abs().mean() < 0.25 * stylized_chroma_change
    assert (lab(0.0, 1.0)[:, :1] - rgb_to_lab(photo)[:, :1]).abs().mean() > 5
    # Texture moves the result from the repainted photo to the stylized one, colour alone not.
    assert (lab(1.0, 0.0) - lab(1.0, 1.0)).abs().mean() > 5
    # Halfway is between the corners.
    mid = lab(0.5, 0.5)
    corners = torch.stack([lab(c, t) for c in (0.0, 1.0) for t in (0.0, 1.0)])
    assert ((mid - corners.mean(0)).abs().mean()) < 1.0


def test_the_shorthands_and_the_controls_do_not_mix() -> None:
    assert resolve_controls(1.0, False, None, None) is None
    assert resolve_controls(1.0, False, 0.0, None) == (0.0, 1.0)
    with pytest.raises(ValueError, match="shorthands"):
        resolve_controls(0.5, False, 0.2, None)
    with pytest.raises(ValueError, match="shorthands"):
        resolve_controls(1.0, True, None, 0.3)
    with pytest.raises(ValueError, match="texture_strength"):
        resolve_controls(1.0, False, 0.5, 1.5)


def test_the_pipeline_takes_the_controls(tiny: GANStylizer) -> None:
    photo = synthetic_image(80, 64, 4)
    style = synthetic_image(64, 64, 5)
    out = tiny(photo, [style], color_strength=0.0, texture_strength=0.0)
    assert out.size == photo.size
    assert (to_tensor(out) - to_tensor(photo)).abs().max() < 3 / 255
    full = tiny(photo, [style], color_strength=1.0, texture_strength=1.0)
    assert (to_tensor(full) - to_tensor(photo)).abs().mean() > 0.02
    with pytest.raises(ValueError, match="shorthands"):
        tiny(photo, [style], strength=0.5, color_strength=1.0)


def test_stroke_scale_sets_the_working_side() -> None:
    assert stroke_working_side(1.0) == 1024
    assert stroke_working_side(2.0) == 512
    assert stroke_working_side(STROKE_SCALE_MAX) == 256
    for bad in (0.0, 0.1, 4.5):
        with pytest.raises(ValueError, match="stroke_scale"):
            stroke_working_side(bad)


def test_guided_upsampling_keeps_the_photos_edges_where_a_resize_blurs_them() -> None:
    # A photo with a hard vertical edge; the "result" is the photo itself at a quarter size.
    photo = torch.zeros(1, 3, 256, 256)
    photo[..., 128:] = 1.0
    small = resize_longer(photo, 64)
    guided = guided_upsample(small, small, photo)
    plain = torch.nn.functional.interpolate(small, size=(256, 256), mode="bilinear")
    edge = slice(120, 136)
    assert (guided[..., edge] - photo[..., edge]).abs().mean() < 0.5 * (
        (plain[..., edge] - photo[..., edge]).abs().mean()
    )
    assert carry_to_photo(small, small, photo).shape == photo.shape
    # A photo smaller than the working size: averaged down, no guide needed.
    big = resize_longer(photo, 512)
    assert carry_to_photo(big, big, photo).shape == photo.shape


def test_stroke_scale_keeps_the_photos_size(tiny: GANStylizer) -> None:
    style = synthetic_image(64, 64, 5)
    for size in ((300, 200), (40, 90)):
        photo = synthetic_image(*size, seed=6)
        assert tiny(photo, [style], stroke_scale=4.0).size == size


shipped = pytest.mark.skipif(not SHIPPED.is_file(), reason=f"{SHIPPED} is not shipped")


@pytest.fixture(scope="module")
def default_model() -> GANStylizer:
    return GANStylizer.from_file(SHIPPED, device="cpu", backend="torch")


@pytest.fixture(scope="module")
def wave_on_photo(default_model: GANStylizer) -> tuple[Image.Image, object, torch.Tensor, float]:
    """A photo, the Great Wave's statistics, the photo as a tensor and the two palettes'
    colour distance (measured: 15.96 Lab units, docs/api/style-controls.md)."""
    photo = synthetic_image(384, 288, 1)
    painting = Image.open(PAINTING).convert("RGB")
    p = to_tensor(photo)
    return photo, default_model.style_stats(painting), p, color_distance(p, to_tensor(painting))


@shipped
def test_colour_0_texture_1_keeps_the_photos_palette_with_the_paintings_marks(
    default_model: GANStylizer, wave_on_photo: tuple[Image.Image, object, torch.Tensor, float]
) -> None:
    """The palette within 10% of the way from the photo's to the painting's; marks: the
    photo's structure changed."""
    photo, stats, p, apart = wave_on_photo
    marks = to_tensor(default_model(photo, [stats], color_strength=0.0, texture_strength=1.0))
    assert color_distance(marks, p) <= 0.10 * apart
    assert content_ssim(marks, p) < 0.8


@shipped
def test_colour_1_texture_0_takes_the_paintings_palette_on_the_photos_surfaces(
    default_model: GANStylizer, wave_on_photo: tuple[Image.Image, object, torch.Tensor, float]
) -> None:
    """The reverse: the palette past 90% of the way to the painting's; no marks: the photo's
    structure."""
    photo, stats, p, apart = wave_on_photo
    colours = to_tensor(default_model(photo, [stats], color_strength=1.0, texture_strength=0.0))
    assert color_distance(colours, p) >= 0.90 * apart
    assert content_ssim(colours, p) > 0.8


def test_the_cli_takes_the_controls_and_refuses_them_with_a_shorthand(
    tiny_model: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    photo, style, out = tmp_path / "p.png", tmp_path / "s.png", tmp_path / "o.png"
    synthetic_image(90, 60, seed=1).save(photo)
    synthetic_image(40, 40, seed=2).save(style)
    base = ["stylize", str(photo), "--style", str(style), "--model", str(tiny_model)]
    base += ["-o", str(out), "--device", "cpu"]
    controls = ["--color-strength", "0", "--texture-strength", "0.5", "--stroke-scale", "2"]
    result = CliRunner().invoke(app, base + controls)
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as image:
        assert image.size == (90, 60)
    mixed = CliRunner().invoke(app, [*base, "--strength", "0.5", "--color-strength", "1"])
    assert mixed.exit_code == 2 and "shorthands" in mixed.stderr
    too_big = CliRunner().invoke(app, [*base, "--stroke-scale", "9"])
    assert too_big.exit_code == 2 and "stroke-scale" in too_big.stderr


@shipped
def test_one_stroke_scale_looks_the_same_at_512_1024_and_4096_px(
    default_model: GANStylizer,
) -> None:
    """The acceptance: each size's result scaled to 512 px, the style distance of `atelier
    evaluate` (models/scores.py) within 10% of each other."""
    from models.scores import COLOR_SEED, _Targets

    source = synthetic_image(1024, 683, 3)
    painting = Image.open(PAINTING).convert("RGB")
    stats = default_model.style_stats(painting)

    def at(image: Image.Image, side: int) -> Image.Image:
        size = (side, round(side * image.height / image.width))
        return image.resize(size, Image.Resampling.LANCZOS)

    targets = _Targets(default_model.encoder, [at(source, 512)], [painting])
    scores = []
    for side in (512, 1024, 4096):
        result = default_model(at(source, side), [stats], stroke_scale=1.0, tile_size=1024)
        assert result.width == side
        scores.append(targets.pair_scores(0, 0, at(result, 512), COLOR_SEED)[1])
    assert max(scores) <= 1.10 * min(scores), scores
