"""The slimmed decoder (models/slimming.py): summed merges and a narrower head start from a trained
generator's weights (a least-squares fit where the layout changed), cost fewer FLOPs than the
shipped layout, paint on the graph backends as in torch, and a recipe asking for them gets them
from its init model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from models.encoders import build_encoder, build_random
from models.losses import mean_std
from models.modelfile import load_model, read_metadata, save_model
from models.modulated import ModulatedGenerator
from models.networks import GeneratorConfig, build_generator
from models.slimming import slimmed
from models.starting_point import starting_generator
from models.train_config import TrainConfig
from tests.models.parity import assert_model_file_paints_as_torch
from tests.models.test_modulated import SHIPPED, needs_shipped, style_of
from tests.models.test_subpixel import trained_like, trained_subpixel


def test_a_slimmed_generator_keeps_the_teachers_weights_and_fits_the_changed_layers() -> None:
    teacher = trained_subpixel()
    student = slimmed(teacher, subpixel_width=8)
    assert student.config.merge == "sum" and student.config.subpixel_width == 8
    theirs, ours = teacher.state_dict(), student.state_dict()
    same_shape = [k for k in ours if k in theirs and theirs[k].shape == ours[k].shape]
    assert {k.split(".")[0] for k in same_shape} >= {"entry", "body", "mapping", "shift"}
    assert all(torch.equal(ours[k], theirs[k]) for k in same_shape)
    # A merge's convolution keeps the entry's half of the teacher's kernel...
    width = teacher.config.widths[1]
    kernel = theirs["body.1.0.1.weight"]
    assert torch.equal(ours["body.1.0.1.weight"], kernel[:, :width])
    # ...and its projection P is the least-squares fit of W_x P to the other half: no change
    # of P lowers the residual (its gradient is zero), which is below the residual of P = 0.
    w_x, w_h = kernel[:, :width], kernel[:, width:]
    projection = ours["merge.0.weight"][:, :, 0, 0].clone().requires_grad_(True)
    residual = (torch.einsum("ocyx,cj->ojyx", w_x, projection) - w_h).pow(2).sum()
    (gradient,) = torch.autograd.grad(residual, projection)
    assert gradient.abs().max() < 1e-4 * w_h.pow(2).sum()
    assert residual < w_h.pow(2).sum()
    # The code's input scales of that convolution (the third): the entry's rows only.
    start = sum(teacher.scale_sizes[:2])
    assert student.scale_sizes[2] == width < teacher.scale_sizes[2]
    assert torch.equal(
        ours["scale.weight"][start : start + width], theirs["scale.weight"][start : start + width]
    )
    # The head keeps 8 of the teacher's 12 hidden channels, reading and writing them as it did.
    kept = [
        j
        for j in range(12)
        if any(
            torch.equal(theirs["to_rgb.conv.1.weight"][j], w) for w in ours["to_rgb.conv.1.weight"]
        )
    ]
    assert len(kept) == 8
    assert torch.equal(
        ours["to_rgb.to_phases.1.weight"], theirs["to_rgb.to_phases.1.weight"][:, kept]
    )


def test_slimming_refuses_what_it_cannot_slim() -> None:
    teacher = trained_subpixel()
    with pytest.raises(ValueError, match="already summed"):
        slimmed(slimmed(teacher))
    with pytest.raises(ValueError, match="narrow"):
        slimmed(teacher, subpixel_width=64)
    with pytest.raises(ValueError, match="sub-pixel head"):
        slimmed(trained_like())
    with pytest.raises(ValueError, match="modulated"):
        build_generator(GeneratorConfig(merge="sum"), build_random().taps)
    with pytest.raises(ValueError, match="concat or sum"):
        build_generator(
            GeneratorConfig(architecture="modulated", merge="add", refine_width=8),
            build_random().taps,
        )


@needs_shipped
def test_the_slimmed_layout_costs_a_fifth_fewer_decoder_flops_than_v3s() -> None:
    """v3's layout (concatenated merges, a 32-wide head) against the slimmed one, both at the
    shipped model's widths: FLOPs depend on the layout alone, so seeded weights count them,
    whichever of the two is shipped."""
    encoder = build_encoder("efficientnet-lite0")
    shipped = GeneratorConfig(**read_metadata(SHIPPED)["config"])
    torch.manual_seed(0)
    v3, lighter = (
        build_generator(
            dataclasses.replace(shipped, merge=merge, subpixel_width=width), encoder.taps
        )
        for merge, width in (("concat", 32), ("sum", 16))
    )
    assert isinstance(v3, ModulatedGenerator) and isinstance(lighter, ModulatedGenerator)
    style = style_of(encoder, v3, seed=2)
    taps = tuple(t.name for t in v3.taps)
    feats = encoder(torch.rand(1, 3, 512, 512), taps)
    stats = {t: mean_std(f) for t, f in feats.items()}

    def count(generator: ModulatedGenerator) -> int:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            generator.render(feats, style, 1.0, stats)
        return counter.get_total_flops()

    before, after = count(v3), count(lighter)
    figures = f"v3's layout {before / 1e9:.2f}, slimmed {after / 1e9:.2f} GFLOP"
    print(f"\nDecoder at 512 px, saved style: {figures}")  # noqa: T201
    assert after < 0.8 * before, figures


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_a_slimmed_model_file_paints_on_a_graph_backend_as_in_torch(
    name: str, tmp_path: Path
) -> None:
    encoder = build_random()
    student = slimmed(trained_subpixel(), subpixel_width=8)
    with torch.no_grad():  # merges trained apart from their fit, as distillation leaves them
        for p in student.merge.parameters():
            p.add_(0.05 * torch.randn_like(p))
    loaded = assert_model_file_paints_as_torch(name, student, encoder, tmp_path)
    assert loaded.config.merge == "sum"
    assert read_metadata(tmp_path / "model.safetensors")["config"]["merge"] == "sum"


def test_a_recipe_asking_for_summed_merges_gets_them_from_its_init_model(tmp_path: Path) -> None:
    encoder = build_random()
    teacher = trained_subpixel()
    save_model(tmp_path / "teacher.safetensors", teacher, encoder, steps=100)
    wanted = dataclasses.replace(teacher.config, merge="sum", subpixel_width=8)
    config = TrainConfig(encoder="random", device="cpu", generator=wanted)
    generator, steps = starting_generator(config, encoder, tmp_path / "teacher.safetensors", None)
    assert steps == 100 and config.generator == generator.config == wanted
    fitted = slimmed(load_model(tmp_path / "teacher.safetensors", encoder)[0], 8)
    assert all(
        torch.equal(a, b)
        for a, b in zip(generator.state_dict().values(), fitted.state_dict().values(), strict=True)
    )
