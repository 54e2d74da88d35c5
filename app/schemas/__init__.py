"""Request and response bodies, named by direction (`...Create` in, `...Public` out).

One module per resource; every body is re-exported here, so callers import them all from
`app.schemas`.
"""

from app.schemas.errors import ErrorInfo, ErrorPublic
from app.schemas.fields import Name
from app.schemas.image_sets import ImageSetMemberPublic, ImageSetPublic, ImageSetsPublic
from app.schemas.jobs import CampaignPublic, JobPublic, JobsPublic
from app.schemas.keys import (
    KeyAdminPublic,
    KeyCreate,
    KeyCreated,
    KeyDataDeleted,
    KeyLimitsPublic,
    KeyLimitsUpdate,
    KeysAdminPublic,
    RateLimit,
)
from app.schemas.model_files import (
    ActivationPublic,
    ActivationsPublic,
    ModelActivate,
    ModelPublic,
    ModelsPublic,
)
from app.schemas.styles import StyleCreditPublic, StylePublic, StylesPublic
from app.schemas.stylizations import StylizationCreate
from app.schemas.trainings import TrainingCreate

__all__ = [
    "ActivationPublic",
    "ActivationsPublic",
    "CampaignPublic",
    "ErrorInfo",
    "ErrorPublic",
    "ImageSetMemberPublic",
    "ImageSetPublic",
    "ImageSetsPublic",
    "JobPublic",
    "JobsPublic",
    "KeyAdminPublic",
    "KeyCreate",
    "KeyCreated",
    "KeyDataDeleted",
    "KeyLimitsPublic",
    "KeyLimitsUpdate",
    "KeysAdminPublic",
    "ModelActivate",
    "ModelPublic",
    "ModelsPublic",
    "Name",
    "RateLimit",
    "StyleCreditPublic",
    "StylePublic",
    "StylesPublic",
    "StylizationCreate",
    "TrainingCreate",
]
