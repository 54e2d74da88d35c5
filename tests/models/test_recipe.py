"""Recipes: stages continue each other through the checkpoint, and bad files are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from models.modelfile import read_metadata
from models.recipe import RecipeError, load_recipe, run_recipe
from tests.models.test_cli import invoke

RECIPE = """
name = "tiny"
[base]
encoder = "random"
device = "cpu"
seed = 3
batch_size = 2
checkpoint_every = 1
validate_every = 2
style_conditioned_d = true
w_color = 5.0
content_taps = ["s4", "s16"]
[base.generator]
refine_width = 8
[[stages]]
steps = 2
image_size = 32
[[stages]]
steps = 2
image_size = 48
lr_g = 1e-4
"""


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(RECIPE)
    return path


def test_stages_are_cumulative_and_merge_the_base(recipe_file: Path) -> None:
    recipe = load_recipe(recipe_file)
    assert [s.steps for s in recipe.stages] == [2, 4]
    assert [s.image_size for s in recipe.stages] == [32, 48]
    assert recipe.stages[1].lr_g == 1e-4 and recipe.stages[0].lr_g == 2e-4
    assert recipe.stages[1].generator is not None and recipe.stages[1].generator.refine_width == 8
    assert recipe.stages[0].content_taps == ("s4", "s16")
    assert recipe.digest.startswith("sha256:")


def test_a_recipe_run_stopped_after_stage_one_resumes_to_the_same_model(
    recipe_file: Path, image_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    content, style = image_dirs
    recipe = load_recipe(recipe_file)
    straight = run_recipe(recipe, content, style, tmp_path / "a" / "m.safetensors")
    # The same recipe cut after stage 1, then run again: it resumes at step 2, not from zero.
    cut = load_recipe(recipe_file)
    cut.stages = cut.stages[:1]
    run_recipe(cut, content, style, tmp_path / "b" / "m.safetensors")
    resumed = run_recipe(recipe, content, style, tmp_path / "b" / "m.safetensors")
    assert straight is not None and resumed is not None
    assert resumed.step_count == 4
    for k, v in straight.G_ema.state_dict().items():
        assert torch.equal(v, resumed.G_ema.state_dict()[k]), k
    # A stage-1 model is left beside the output, and the recipe is recorded in the final one.
    assert (tmp_path / "a" / "m.stage1.safetensors").is_file()
    meta = read_metadata(tmp_path / "a" / "m.safetensors")
    assert meta["recipe"] == {"name": "tiny", "digest": recipe.digest, "stage": 2}
    assert meta["train_config"]["image_size"] == 48
    # The later stage's learning rate is used, not the one stored in the optimiser state.
    assert resumed.opt_G.param_groups[0]["lr"] == 1e-4
    # Nothing is left to do: a third call trains no step.
    assert run_recipe(recipe, content, style, tmp_path / "b" / "m.safetensors") is None
    # The model file lost, the finished checkpoint writes it again, trained no further.
    (tmp_path / "b" / "m.safetensors").unlink()
    rewritten = run_recipe(recipe, content, style, tmp_path / "b" / "m.safetensors")
    assert rewritten is not None and rewritten.step_count == 4
    for k, v in straight.G_ema.state_dict().items():
        assert torch.equal(v, rewritten.G_ema.state_dict()[k]), k
    assert read_metadata(tmp_path / "b" / "m.safetensors")["recipe"]["stage"] == 2


def test_a_recipe_with_init_fine_tunes_that_model(
    recipe_file: Path,
    image_dirs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content, style = image_dirs
    # A 4-step model on a random encoder is "collapsed" by the guard rails, which judge a
    # fine-tune from its first step; this test is about where the weights come from.
    monkeypatch.setattr("models.train.check_outputs", lambda *a, **k: None)
    first = run_recipe(load_recipe(recipe_file), content, style, tmp_path / "a.safetensors")
    assert first is not None
    second = tmp_path / "second.toml"
    second.write_text(
        RECIPE.replace('name = "tiny"', f'name = "tiny-2"\ninit = "{tmp_path / "a.safetensors"}"')
    )
    recipe = load_recipe(second)
    assert recipe.init == tmp_path / "a.safetensors"
    # Zero learning rates: the fine-tuned generator is the first model's, so init was used.
    for stage in recipe.stages:
        stage.lr_g = stage.lr_d = 0.0
        stage.ema_decay = 0.0
    tuned = run_recipe(recipe, content, style, tmp_path / "b.safetensors")
    assert tuned is not None
    for k, v in first.G_ema.state_dict().items():
        assert torch.equal(v, tuned.G_ema.state_dict()[k]), k
    # A missing init model is named, not a traceback from deep inside training.
    recipe.init = tmp_path / "missing.safetensors"
    with pytest.raises(RecipeError, match="missing.safetensors not found"):
        run_recipe(recipe, content, style, tmp_path / "c.safetensors")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[stages]]\nsteps = 0\n", "steps >= 1"),
        ("[base]\nw_colour = 1.0\n[[stages]]\nsteps = 1\n", "unknown training settings"),
        ("name = 'x'\n", "at least one [[stages]]"),
        ("[[stages]\n", "cannot read recipe"),
    ],
)
def test_bad_recipes_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(path)


def test_cli_refuses_training_options_that_the_recipe_sets(
    recipe_file: Path, tmp_path: Path
) -> None:
    code, _, err = invoke(
        "train", "--recipe", recipe_file, "--content-dir", tmp_path, "--style-dir", tmp_path,
        "--out", tmp_path / "m.safetensors", "--steps", "3",
    )  # fmt: skip
    assert code == 2
    assert "--steps: set by the recipe" in err
