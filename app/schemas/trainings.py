"""The body of a training request; its settings' defaults, bounds and help are
`contracts.training`'s, so the API and `atelier train` cannot drift apart."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.schemas.fields import Name
from contracts import training


def _setting(api_name: str) -> Any:
    """A training setting's field: its default, bounds and help from `contracts.training`."""
    setting = training.BY_API_NAME[api_name]
    return Field(default=setting.default, ge=setting.ge, le=setting.le, description=setting.help)


class TrainingCreate(BaseModel):
    """`POST /v1/admin/trainings`: fine-tune a model on a style set: `base_model_id`, else the
    active model, else (or with `from_scratch`) a new one. A fine-tune inherits the base model's
    loss settings (`train_config`: content_taps, w_color, style_conditioned_d) unless set here.

    Without `content_set_id` the worker's `ATELIER_TRAINING_CONTENT_DIR` holds the photos. The
    settings' defaults and bounds are `contracts.training`'s, shared with `atelier train`.
    """

    model_config = ConfigDict(extra="forbid")

    name: Name = "model"
    style_set_id: str
    content_set_id: str | None = None
    base_model_id: str | None = None
    from_scratch: bool = Field(default=False, description="do not start from the active model")
    steps: int = _setting("steps")
    image_size: int = _setting("image_size")
    batch_size: int = _setting("batch_size")
    lr_g: float = _setting("lr_g")
    lr_d: float = _setting("lr_d")
    w_adv: float = _setting("w_adv")
    w_content: float = _setting("w_content")
    w_style: float = _setting("w_style")
    w_identity: float = _setting("w_identity")
    w_color: float = _setting("w_color")
    augment: str = _setting("augment")
    seed: int = _setting("seed")
    checkpoint_every: int = _setting("checkpoint_every")
    preview_every: int = _setting("preview_every")
    eval_images: int = _setting("eval_images")
    gate_content_margin: float = _setting("gate_content_margin")

    @model_validator(mode="after")
    def _one_base(self) -> "TrainingCreate":
        if self.from_scratch and self.base_model_id is not None:
            raise ValueError("give base_model_id or from_scratch, not both")
        return self

    @field_validator("augment")
    @classmethod
    def _known_augmentations(cls, value: str) -> str:
        return training.check_augment(value)
