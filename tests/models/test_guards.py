"""Guard rails stop broken training runs with a machine-readable reason."""

from __future__ import annotations

import math

import pytest
import torch

from models.guards import TrainingDiverged, check_losses, check_outputs
from models.images import to_tensor
from tests.models.conftest import synthetic_image


@pytest.fixture
def photos() -> torch.Tensor:
    return torch.cat([to_tensor(synthetic_image(48, 48, seed=i)) for i in range(4)])


def test_healthy_stylized_outputs_pass(photos: torch.Tensor) -> None:
    tinted = (photos * 0.7 + torch.tensor([0.3, 0.1, 0.0]).view(1, 3, 1, 1)).clamp(0, 1)
    check_outputs(photos, tinted, step=500)


def test_collapse_is_detected(photos: torch.Tensor) -> None:
    same = photos[:1].expand_as(photos) + 0.001 * torch.rand_like(photos)
    with pytest.raises(TrainingDiverged) as err:
        check_outputs(photos, same, step=500)
    assert err.value.code == "mode_collapse"


def test_colour_inversion_is_detected(photos: torch.Tensor) -> None:
    with pytest.raises(TrainingDiverged) as err:
        check_outputs(photos, 1 - photos, step=500)
    assert err.value.code == "colour_inversion"


def test_non_finite_losses_and_outputs_are_detected(photos: torch.Tensor) -> None:
    with pytest.raises(TrainingDiverged) as err:
        check_losses({"d": 1.0, "style": math.nan}, step=3)
    assert err.value.code == "non_finite_loss" and "style" in str(err.value)
    broken = photos.clone()
    broken[0, 0, 0, 0] = math.inf
    with pytest.raises(TrainingDiverged) as err:
        check_outputs(photos, broken, step=3)
    assert err.value.code == "non_finite_output"
