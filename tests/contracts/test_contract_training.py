"""Every training setting comes from contracts.training: the API's TrainingCreate, the
`atelier train` options and models.train.TrainConfig agree with it on names, defaults and bounds,
and the worker's one call turns the API's defaults into TrainConfig's."""

import dataclasses

import pytest
from annotated_types import Ge, Le

from app.schemas import TrainingCreate
from contracts.training import (
    BY_API_NAME,
    BY_NAME,
    SETTINGS,
    STRUCTURED_FIELDS,
    train_config_kwargs,
    worker_parameter,
)

NOT_SETTINGS = {
    "name",
    "style_set_id",
    "content_set_id",
    "base_model_id",
    "from_scratch",
}  # what, not how


def _cli_options() -> dict:
    import typer

    from cli.main import app

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    return {p.name: p for p in command.params}


def _bounds(metadata: list) -> tuple:
    ge = next((m.ge for m in metadata if isinstance(m, Ge)), None)
    le = next((m.le for m in metadata if isinstance(m, Le)), None)
    return ge, le


def test_the_api_offers_exactly_the_api_settings_with_their_defaults_and_bounds():
    fields = TrainingCreate.model_fields
    assert set(fields) - NOT_SETTINGS == set(BY_API_NAME)
    for api_name, setting in BY_API_NAME.items():
        field = fields[api_name]
        assert field.default == setting.default, api_name
        assert _bounds(field.metadata) == (setting.ge, setting.le), api_name
        assert field.annotation is setting.kind, api_name


def test_the_cli_offers_the_cli_settings_with_their_defaults_and_bounds():
    options = _cli_options()
    offered = {s.name for s in SETTINGS if s.cli}
    assert offered <= set(options)
    for name in set(options) & set(BY_NAME):
        setting, option = BY_NAME[name], options[name]
        assert setting.cli, f"--{name} is an option but the contract says it is not"
        assert option.default == setting.default, name
        bounds = (option.min, option.max)
        assert bounds == (setting.ge, setting.le), name


def test_train_config_has_every_trainer_setting_with_its_default():
    pytest.importorskip("torch")
    from models.train import TrainConfig

    config_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    trainer = {s.name for s in SETTINGS if s.trainer}
    assert set(config_fields) == trainer | set(STRUCTURED_FIELDS)
    defaults = TrainConfig()
    for name in trainer:
        assert getattr(defaults, name) == BY_NAME[name].default, name


def test_the_worker_builds_train_config_from_the_api_defaults_in_one_call():
    pytest.importorskip("torch")
    from models.train import TrainConfig

    parameters = TrainingCreate(style_set_id="s").model_dump()
    config = TrainConfig(**train_config_kwargs(parameters))
    assert config == TrainConfig()
    assert worker_parameter(parameters, "eval_images") == BY_NAME["eval_images"].default


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.ge is not None], ids=lambda s: s.name)
def test_every_bounded_setting_refuses_a_value_below_its_floor(setting):
    setting.check(setting.ge)
    with pytest.raises(ValueError, match=f"{setting.name}: at least"):
        setting.check(setting.ge - 1)


def test_augmentation_names_are_the_ones_diff_augment_knows():
    torch = pytest.importorskip("torch")
    from contracts.training import AUGMENTATIONS, check_augment
    from models.augment import diff_augment

    x = torch.rand(2, 3, 16, 16)
    for name in AUGMENTATIONS:
        assert diff_augment(x, torch.Generator().manual_seed(0), name).shape == x.shape
    with pytest.raises(ValueError):
        diff_augment(x, torch.Generator().manual_seed(0), "blur")
    with pytest.raises(ValueError, match="unknown augmentation"):
        check_augment("color,blur")
    assert check_augment("") == ""  # no augmentation
