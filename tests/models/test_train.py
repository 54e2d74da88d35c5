"""Training: bit-for-bit resume, an overfit check, and the model file round trip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from models.encoders import build_random
from models.images import to_tensor
from models.inference import GANStylizer, load_stylizer
from models.modelfile import ModelFileError, load_model, read_metadata
from models.train import TrainConfig, Trainer, train
from tests.models.conftest import synthetic_image


def tiny_config(**overrides: object) -> TrainConfig:
    config = TrainConfig(
        steps=4,
        image_size=32,
        batch_size=2,
        encoder="random",
        checkpoint_every=2,
        device="cpu",
        seed=7,
    )
    for k, v in overrides.items():
        setattr(config, k, v)
    return config


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(
    image_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    content, style = image_dirs
    straight = train(tiny_config(), content, style, tmp_path / "a.safetensors")
    first = train(
        tiny_config(steps=2),
        content,
        style,
        tmp_path / "b.safetensors",
        checkpoint=tmp_path / "b.ckpt",
    )
    assert first.step_count == 2
    resumed = train(
        tiny_config(), content, style, tmp_path / "b.safetensors", resume=tmp_path / "b.ckpt"
    )
    assert resumed.step_count == 4
    for name in ("G", "G_ema", "D"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resume"
    assert straight.history == resumed.history
    # ...and a different seed really trains differently (the check above can fail).
    other = train(tiny_config(seed=8), content, style, tmp_path / "c.safetensors")
    assert not torch.equal(other.G.to_rgb[1].weight, straight.G.to_rgb[1].weight)


@pytest.mark.slow
def test_overfit_one_pair_style_loss_halves_and_both_players_learn(
    samples: Path, tmp_path: Path
) -> None:
    content, style = tmp_path / "content", tmp_path / "style"
    content.mkdir()
    style.mkdir()
    shutil.copy(samples / "content" / "golden_gate.jpg", content)
    shutil.copy(samples / "style" / "la_muse.jpg", style)
    trainer = Trainer(
        TrainConfig(image_size=64, batch_size=2, device="cpu", seed=0), content, style
    )
    history = [trainer.step() for _ in range(300)]

    def mean(key: str, part: list[dict[str, float]]) -> float:
        return sum(h[key] for h in part) / len(part)

    first, last = history[:20], history[-20:]
    assert mean("style", last) < 0.5 * mean("style", first)
    assert abs(mean("d", last) - mean("d", first)) > 0.05
    assert abs(mean("g_adv", last) - mean("g_adv", first)) > 0.05
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)


def test_model_file_round_trip(image_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    content, style = image_dirs
    previews: list[tuple[int, tuple[int, ...]]] = []
    trainer = train(
        tiny_config(steps=2, validate_every=1),
        content,
        style,
        tmp_path / "m.safetensors",
        preview=lambda step, images: previews.append((step, tuple(images.shape))),
    )
    # The fixed validation photos and their results, at every validation step.
    assert previews == [(1, (2, 3, 3, 32, 32)), (2, (2, 3, 3, 32, 32))]
    meta = read_metadata(tmp_path / "m.safetensors")
    assert meta["format"] == "atelier-gan/1"
    assert meta["encoder"] == {"name": "random", "digest": "random-seed-0", "untrained": True}
    assert meta["steps"] == 2
    assert set(meta["losses"]) >= {"style", "content", "d", "g"}
    assert meta["data"]["style"].startswith("sha256:")
    generator, _ = load_model(tmp_path / "m.safetensors", build_random())
    for k, v in trainer.G_ema.state_dict().items():
        assert torch.equal(generator.state_dict()[k], v)
    # On torch, as `direct` runs: the weights' round trip is under test, not a backend's.
    stylizer = load_stylizer(tmp_path / "m.safetensors", device="cpu", backend="torch")
    assert isinstance(stylizer, GANStylizer) and stylizer.untrained
    photo = synthetic_image(50, 40, seed=1)
    direct = GANStylizer(trainer.G_ema, build_random(), torch.device("cpu"))
    assert torch.equal(
        to_tensor(stylizer(photo, [synthetic_image(30, 30, seed=2)])),
        to_tensor(direct(photo, [synthetic_image(30, 30, seed=2)])),
    )


def test_corrupt_truncated_and_foreign_model_files_are_refused(
    image_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    content, style = image_dirs
    train(tiny_config(steps=1), content, style, tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    for name in ("truncated", "garbage", "empty", "missing"):
        with pytest.raises(ModelFileError):
            load_model(tmp_path / f"{name}.safetensors", build_random())
    # Well-formed files whose metadata lacks what loading needs.
    import json

    from safetensors.torch import load_file, save_file

    from models.modelfile import METADATA_KEY

    meta = read_metadata(tmp_path / "m.safetensors")
    for broken in (
        {**meta, "encoder": {"name": "random"}},
        {**meta, "config": {"fuse_taps": ["nope"]}},
        {**meta, "format": "other/9"},
    ):
        save_file(
            load_file(tmp_path / "m.safetensors"),
            tmp_path / "meta.safetensors",
            metadata={METADATA_KEY: json.dumps(broken)},
        )
        with pytest.raises(ModelFileError):
            load_model(tmp_path / "meta.safetensors", build_random())
    # Made with encoder "random" seed 0: another encoder's weights must be refused.
    with pytest.raises(ModelFileError, match="trained with encoder random"):
        load_model(tmp_path / "m.safetensors", build_random(seed=1))
