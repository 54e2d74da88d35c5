"""The training settings, written once: name, type, default, bounds, and who offers each.

`models.train.TrainConfig` holds these fields; the API's `TrainingCreate` (`app.schemas`) and the
`atelier train` options (`cli.gan`) take their defaults and bounds from SETTINGS, and
tests/contracts/test_training_settings.py checks all three against it (a TrainConfig field added
without an entry here fails that test). The worker turns a training job's parameters into
TrainConfig's keyword arguments with one call, `train_config_kwargs`.

Where a setting is offered: `api` is its name in `POST /v1/admin/trainings` (None: not there),
`cli` whether `atelier train` has an option for it; every setting can be set by a recipe
(`models.recipe`). Two settings are the worker's own, not the trainer's (`trainer=False`): how
many held-out photos score the model and the quality gate's content margin.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

AUGMENTATIONS = ("color", "translation", "cutout")  # DiffAugment's transforms (models.augment)
ADVERSARIAL_LOSSES = ("hinge", "bce", "lsgan")  # models.losses.ADVERSARIAL


def check_augment(value: str) -> str:
    """A DiffAugment policy: known names, comma-separated, or empty; else ValueError."""
    unknown = [n for n in value.split(",") if n not in AUGMENTATIONS] if value else []
    if unknown:
        raise ValueError(
            f"unknown augmentation(s) {', '.join(map(repr, unknown))}: "
            f"use {', '.join(AUGMENTATIONS)}, comma-separated"
        )
    return value


@dataclass(frozen=True)
class Setting:
    name: str  # TrainConfig's field (the worker's parameter where `trainer` is False)
    kind: type  # int, float, str, bool or tuple
    default: Any
    ge: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | None = None
    parse: Callable[[Any], Any] | None = None  # a further check of the value (ValueError)
    help: str = ""
    api: str | None = None  # its name in the API's body; None: not offered there
    cli: bool = False  # `atelier train` has an option for it
    trainer: bool = True

    def check(self, value: Any) -> Any:
        """`value` cast to the setting's type and checked against its bounds, or ValueError."""
        if self.kind in (int, float) and isinstance(value, bool):
            raise ValueError(f"{self.name}: a number is required")
        cast: Any = self.kind(value) if self.kind in (int, float, str) else value
        if self.ge is not None and cast < self.ge:
            raise ValueError(f"{self.name}: at least {self.ge:g}")
        if self.le is not None and cast > self.le:
            raise ValueError(f"{self.name}: at most {self.le:g}")
        if self.choices is not None and cast not in self.choices:
            raise ValueError(f"{self.name}: one of {', '.join(self.choices)}")
        return self.parse(cast) if self.parse is not None else cast


def _api(name: str, kind: type, default: Any, **bounds: Any) -> Setting:
    """A setting offered by the API under its own name."""
    return Setting(name, kind, default, api=name, **bounds)


MAX_SEED = 2**31 - 1

SETTINGS: tuple[Setting, ...] = (
    _api("steps", int, 5000, ge=1, le=200_000, help="Total training steps.", cli=True),
    _api("image_size", int, 256, ge=32, le=1024, help="Training crop size in pixels.", cli=True),
    _api("batch_size", int, 8, ge=1, le=64, help="Images per step.", cli=True),
    _api("lr_g", float, 2e-4, ge=0, le=1, help="Generator learning rate."),
    _api("lr_d", float, 2e-4, ge=0, le=1, help="Discriminator learning rate."),
    Setting(
        "adversarial",
        str,
        "hinge",
        choices=ADVERSARIAL_LOSSES,
        help="hinge, bce or lsgan.",
        cli=True,
    ),
    _api("w_adv", float, 0.5, ge=0, help="Adversarial loss weight.", cli=True),
    _api("w_content", float, 1.0, ge=0, help="Content loss weight.", cli=True),
    _api("w_style", float, 1.0, ge=0, help="Style loss weight.", cli=True),
    _api("w_identity", float, 1.0, ge=0, help="Identity loss weight: G(c, c) = c."),
    _api("w_color", float, 0.0, ge=0, help="Colour-distribution loss weight (0: off)."),
    Setting(
        "w_sliced",
        float,
        0.0,
        ge=0,
        help="Sliced Wasserstein loss of the style taps' feature vectors (0: off).",
    ),
    Setting(
        "w_local", float, 0.0, ge=0, help="Loss of the style taps' local patch statistics (0: off)."
    ),
    Setting("w_r1", float, 0.0, ge=0, help="R1 gradient penalty weight on real paintings."),
    Setting(
        "w_temporal",
        float,
        0.0,
        ge=0,
        help="Temporal term: a photo moved as a camera moves is painted as its result moved (0: off).",
    ),
    Setting(
        "teacher",
        str,
        None,
        help="Distillation: a model file whose results G learns to paint (recipes only).",
    ),
    Setting("w_teacher", float, 0.0, ge=0, help="Teacher term: L1 to its result (0: off)."),
    Setting("w_teacher_features", float, 0.0, ge=0, help="The teacher through the encoder."),
    Setting("content_taps", tuple, None, help="Encoder taps of the content loss (None: its own)."),
    Setting("style_taps", tuple, None, help="Encoder taps of the style terms (None: its own)."),
    Setting("style_conditioned_d", bool, False, help="Condition D on the style's statistics."),
    _api(
        "augment",
        str,
        ",".join(AUGMENTATIONS),
        parse=check_augment,
        help=f"DiffAugment transforms, comma-separated: {', '.join(AUGMENTATIONS)} (empty: none).",
    ),
    Setting("ema_decay", float, 0.995, ge=0, le=1, help="G_ema <- decay * G_ema + (1-decay) * G."),
    _api("checkpoint_every", int, 250, ge=1, help="Checkpoint every N steps.", cli=True),
    Setting(
        "validate_every",
        int,
        250,
        ge=1,
        help="Preview + guard rails every N steps.",
        api="preview_every",
    ),
    Setting("guard_warmup", int, 300, ge=0, help="Steps from scratch before the guard rails."),
    _api("seed", int, 0, ge=0, le=MAX_SEED, help="Random seed.", cli=True),
    Setting(
        "encoder", str, "efficientnet-lite0", help="efficientnet-lite0, vgg19 or random.", cli=True
    ),
    Setting("device", str, "auto", help="auto, cpu, cuda, cuda:N or mps.", cli=True),
    Setting("threads", int, 0, ge=0, le=256, help="torch CPU threads (0: torch's default)."),
    _api("eval_images", int, 2, ge=1, le=16, help="Held-out photos to score.", trainer=False),
    _api(
        "gate_content_margin",
        float,
        0.05,
        ge=0,
        le=1,
        help="The content score may be this much worse than the baseline's (fraction).",
        trainer=False,
    ),
)
BY_NAME = {s.name: s for s in SETTINGS}
BY_API_NAME = {s.api: s for s in SETTINGS if s.api is not None}
# TrainConfig fields that are structures, not settings: set by a recipe (or kept as they are).
STRUCTURED_FIELDS = ("betas", "generator", "discriminator")


# The loss settings a fine-tune takes from its base model's `train_config` unless its request
# sets them: the content loss, the style terms that reward marks, the temporal term (a model
# trained for steady video stays so) and the discriminator it was trained with.
INHERITED = (
    "content_taps", "w_color", "style_conditioned_d", "style_taps", "w_sliced", "w_local",
    "w_temporal",
)  # fmt: skip


def inherited_settings(train_config: Any, given: Collection[str]) -> dict[str, Any]:
    """The base model's INHERITED settings (TrainConfig names) that a request did not set
    (`given`: the API names it set), checked; absent or invalid ones are left out."""
    if not isinstance(train_config, Mapping):
        return {}
    inherited = {}
    for name in INHERITED:
        setting = BY_NAME[name]
        if (setting.api or name) in given or name not in train_config:
            continue
        try:
            value = train_config[name]
            inherited[name] = None if value is None else setting.check(value)
        except (TypeError, ValueError):
            continue
    return inherited


def train_config_kwargs(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """TrainConfig's keyword arguments from a training job's recorded parameters (API names):
    each trainer setting the API offers, cast and checked; absent ones take the default; then
    the settings recorded as inherited from the base model (`inherited`, TrainConfig names)."""
    kwargs = {
        s.name: s.check(parameters.get(api, s.default))
        for api, s in BY_API_NAME.items()
        if s.trainer
    }
    for name, value in (parameters.get("inherited") or {}).items():
        if name in INHERITED:
            kwargs[name] = None if value is None else BY_NAME[name].check(value)
    for name in ("content_taps", "style_taps"):
        if isinstance(kwargs.get(name), list):
            kwargs[name] = tuple(kwargs[name])
    return kwargs


def worker_parameter(parameters: Mapping[str, Any], name: str) -> Any:
    """One of the worker's own settings (`eval_images`, `gate_content_margin`), checked."""
    setting = BY_NAME[name]
    return setting.check(parameters.get(setting.api or name, setting.default))
