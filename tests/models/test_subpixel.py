"""The sub-pixel head (models/subpixel.py): it starts without a checkerboard, a student made from
a trained model keeps every weight but the head's, it exports and paints on the graph backends
as in torch, and distillation teaches it its teacher's pictures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from models.checkpoint import load_checkpoint
from models.encoders import build_random
from models.modelfile import save_model
from models.modulated import ModulatedGenerator
from models.networks import GeneratorConfig, build_generator
from models.subpixel import SubpixelRGB, with_subpixel_head
from models.train import Trainer
from models.train_config import TrainConfig
from tests.models.parity import assert_model_file_paints_as_torch

CPU = torch.device("cpu")


def trained_like(seed: int = 3) -> ModulatedGenerator:
    """A small modulated generator with the full-resolution head, every weight moved away from
    its initialisation (the style code's zero start included): a stand-in for a trained one."""
    torch.manual_seed(seed)
    config = GeneratorConfig(architecture="modulated", widths=(16, 8, 8, 8), refine_width=8)
    generator = build_generator(config, build_random().taps)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert isinstance(generator, ModulatedGenerator)
    return generator.eval()


def trained_subpixel(seed: int = 3) -> ModulatedGenerator:
    """`trained_like` with a 12-wide sub-pixel head whose phases are trained apart too: a
    stand-in for a trained v3."""
    generator = with_subpixel_head(trained_like(seed), width=12)
    with torch.no_grad():
        for p in generator.to_rgb.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return generator.eval()


def test_the_head_paints_twice_the_size_and_starts_without_a_checkerboard() -> None:
    head = SubpixelRGB(16, 8).eval()
    x = torch.randn(2, 16, 10, 12)
    y = head(x)
    assert y.shape == (2, 3, 20, 24)
    assert y.min() >= 0 and y.max() <= 1
    # ICNR: the four pixels of every 2x2 block start equal (a nearest upsampling of one colour).
    blocks = y.unfold(2, 2, 2).unfold(3, 2, 2)  # (N, 3, 10, 12, 2, 2)
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))
    # Once trained apart, the phases paint each pixel of a block on its own.
    with torch.no_grad():
        head.to_phases[1].weight.add_(0.1 * torch.randn_like(head.to_phases[1].weight))
    blocks = head(x).unfold(2, 2, 2).unfold(3, 2, 2)
    assert not torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))
    # A size other than twice the map's (a photo not padded to the strides) is met exactly.
    assert head(x, (21, 23)).shape == (2, 3, 21, 23)


def test_a_student_keeps_every_weight_but_the_head() -> None:
    teacher = trained_like()
    student = with_subpixel_head(teacher, width=12)
    assert student.config.head == "subpixel" and student.config.refine_width == 0
    assert isinstance(student.to_rgb, SubpixelRGB)
    theirs = teacher.state_dict()
    ours = student.state_dict()
    kept = [k for k in ours if not k.startswith("to_rgb.")]
    assert kept and all(torch.equal(ours[k], theirs[k]) for k in kept)
    assert not any(k.startswith("refine.") for k in ours)
    with pytest.raises(ValueError, match="already"):
        with_subpixel_head(student, width=12)
    with pytest.raises(ValueError, match="modulated"):
        build_generator(GeneratorConfig(head="subpixel"), build_random().taps)
    with pytest.raises(ValueError, match="refine or subpixel"):
        build_generator(
            GeneratorConfig(architecture="modulated", head="pixels"), build_random().taps
        )


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_a_subpixel_model_file_paints_on_a_graph_backend_as_in_torch(
    name: str, tmp_path: Path
) -> None:
    encoder = build_random()
    loaded = assert_model_file_paints_as_torch(name, trained_subpixel(), encoder, tmp_path)
    assert loaded.config.head == "subpixel"


def distillation_config(teacher: Path, **changes: object) -> TrainConfig:
    """A distillation run at 64 px with the random encoder: the teacher's terms only."""
    config = TrainConfig(
        steps=40,
        image_size=64,
        batch_size=2,
        lr_g=2e-3,
        encoder="random",
        device="cpu",
        teacher=str(teacher),
        w_teacher=1.0,
        w_adv=0.0,
        w_content=0.0,
        w_style=0.0,
        w_identity=0.0,
        generator=GeneratorConfig(architecture="modulated", head="subpixel", subpixel_width=12),
    )
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def test_distillation_teaches_the_student_its_teachers_pictures(
    image_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    teacher_file = tmp_path / "teacher.safetensors"
    save_model(teacher_file, trained_like(), build_random(), steps=100)
    config = distillation_config(teacher_file)
    trainer = Trainer(config, *image_dirs, init_model=teacher_file)
    assert trainer.G.config.head == "subpixel" and trainer.base_steps == 100
    d_before = [p.clone() for p in trainer.D.parameters()]
    losses = [trainer.step()["teacher"] for _ in range(config.steps)]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.5 * first, losses
    # No adversarial term: the discriminator is neither run nor trained.
    assert all(torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters(), strict=True))


def test_a_checkpoint_from_before_the_feature_term_resumes_into_its_stage(
    image_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    """The run of recipes/subpixel.toml: its checkpoint was written before the feature term
    existed, so its kept steps never recorded it; the next checkpoint must still be written,
    the old steps counting the term 0."""
    teacher_file = tmp_path / "teacher.safetensors"
    save_model(teacher_file, trained_like(), build_random(), steps=100)
    first = Trainer(
        distillation_config(teacher_file, steps=2), *image_dirs, init_model=teacher_file
    )
    for _ in range(2):
        del first.step()["teacher_features"]  # as the steps of a trainer from before the term
    first.save_checkpoint(tmp_path / "ck.safetensors")
    config = distillation_config(teacher_file, steps=4, w_teacher_features=1.0)
    second = Trainer(config, *image_dirs, resume=tmp_path / "ck.safetensors")
    second.load_checkpoint(tmp_path / "ck.safetensors")
    record = second.step()
    assert record["teacher_features"] > 0
    second.save_checkpoint(tmp_path / "ck.safetensors")
    history = load_checkpoint(tmp_path / "ck.safetensors")["history"]
    assert [h["teacher_features"] for h in history[:2]] == [0.0, 0.0]
    assert history[2]["teacher_features"] == pytest.approx(record["teacher_features"])
