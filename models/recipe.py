"""A training recipe: one TOML file that describes a whole run, stage by stage.

    name = "..."                 # recorded in the model file
    init = "path"                # optional: a model file this recipe fine-tunes (relative to
                                 # the working directory), e.g. another recipe's output
    [base]                       # TrainConfig fields shared by every stage
    [base.generator]             # GeneratorConfig
    [base.discriminator]         # DiscriminatorConfig
    [[stages]]                   # TrainConfig fields that change (steps: this stage's own count)

A stage continues the previous one from its checkpoint (weights, optimiser moments, random
streams), so a run stopped anywhere resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from models.checkpoint import checkpoint_info
from models.networks import DiscriminatorConfig, GeneratorConfig
from models.train import TrainConfig, Trainer, TrainProgress, train

_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}


class RecipeError(ValueError):
    """A recipe file that is not valid TOML or names unknown settings."""


@dataclass
class Recipe:
    name: str
    stages: list[TrainConfig]  # `steps` of each is the cumulative step at which it ends
    digest: str  # sha256 of the recipe file: recorded in the model it makes
    init: Path | None = None  # model file the first stage starts from (fresh D and optimisers)

    @property
    def total_steps(self) -> int:
        return self.stages[-1].steps


def _config(values: dict[str, Any], where: str) -> TrainConfig:
    unknown = set(values) - _TRAIN_FIELDS
    if unknown:
        raise RecipeError(f"{where}: unknown training settings {sorted(unknown)}")
    v = dict(values)
    try:
        if "generator" in v:
            v["generator"] = GeneratorConfig.from_dict(v["generator"])
        if "discriminator" in v:
            v["discriminator"] = DiscriminatorConfig(**v["discriminator"])
        for key in ("betas", "content_taps", "style_taps"):
            if key in v:
                v[key] = tuple(v[key])
        return TrainConfig(**v)
    except TypeError as err:
        raise RecipeError(f"{where}: {err}") from err


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    try:
        raw = path.read_bytes()
        doc = tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise RecipeError(f"{path}: cannot read recipe ({err})") from err
    base = doc.get("base", {})
    stages_raw = doc.get("stages") or []
    if not stages_raw:
        raise RecipeError(f"{path}: a recipe needs at least one [[stages]] entry")
    stages, end = [], 0
    for i, stage in enumerate(stages_raw, 1):
        if int(stage.get("steps", 0)) < 1:
            raise RecipeError(f"{path}: stage {i} needs steps >= 1")
        end += int(stage["steps"])
        merged = {**base, **stage, "steps": end}
        for key in ("generator", "discriminator"):  # tables merge key by key
            if key in base and key in stage:
                merged[key] = {**base[key], **stage[key]}
        stages.append(_config(merged, f"{path} stage {i}"))
    name = str(doc.get("name", path.stem))
    init = doc.get("init")
    if init is not None and not isinstance(init, str):
        raise RecipeError(f"{path}: init must be the path of a model file")
    return Recipe(
        name, stages, "sha256:" + hashlib.sha256(raw).hexdigest(), Path(init) if init else None
    )


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint was written at (0: no checkpoint), from its header alone."""
    return int(checkpoint_info(path).get("step", 0))


def recipe_record(recipe: Recipe, checkpoint: Path) -> dict[str, Any]:
    """What the model file and checkpoint record of the recipe: its name and sha256, and the
    sha256 of every earlier version of the file the run went through (a stage edited while the
    run was stopped). A checkpoint of another recipe is refused: it would resume the wrong run."""
    record: dict[str, Any] = {"name": recipe.name, "digest": recipe.digest}
    before = checkpoint_info(checkpoint).get("recipe")
    if not before:
        return record
    if before.get("name") != recipe.name:
        raise RecipeError(
            f"{checkpoint} belongs to recipe {before.get('name')!r}, not {recipe.name!r}: "
            "give another --checkpoint (or --out), or delete it to start over"
        )
    earlier = list(before.get("earlier_digests", []))
    if before.get("digest") != recipe.digest:
        earlier.append(before.get("digest"))
    if earlier:
        record["earlier_digests"] = earlier
    return record


def run_recipe(
    recipe: Recipe,
    content_dir: str | Path,
    style_dir: str | Path,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    init_model: str | Path | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    preview: Callable[[int, torch.Tensor], None] | None = None,
) -> Trainer | None:
    """Run the recipe's stages in order, resuming from `checkpoint` (default OUT.ckpt) when it
    exists. Each stage but the last also writes OUT with `.stageK` before its suffix, so a run
    cut short still leaves a usable model. Returns the last stage's trainer (None if the
    checkpoint was already past the end and OUT exists)."""
    out = Path(out)
    init_model = init_model or recipe.init
    if init_model is not None and not Path(init_model).is_file():
        raise RecipeError(f"{recipe.name}: init model {init_model} not found (make it first)")
    ckpt = Path(checkpoint) if checkpoint else Path(str(out) + ".ckpt")
    trainer = None
    done = checkpoint_step(ckpt)  # read once; each stage then reports where it ended
    record = recipe_record(recipe, ckpt)
    for k, stage in enumerate(recipe.stages, 1):
        last = k == len(recipe.stages)
        target = out if last else out.with_name(f"{out.stem}.stage{k}{out.suffix}")
        # A finished checkpoint whose model file is missing (the run was stopped between its
        # last checkpoint and writing OUT, or OUT was lost with the machine) writes the model
        # from the checkpoint without training a step.
        if done >= stage.steps and (not last or target.is_file()):
            continue
        trainer = train(
            stage,
            content_dir,
            style_dir,
            target,
            checkpoint=ckpt,
            resume=ckpt if done > 0 else None,
            init_model=init_model if done == 0 else None,
            progress=progress,
            preview=preview,
            model_info={"recipe": {**record, "stage": k}},
        )
        done = trainer.step_count
    return trainer
