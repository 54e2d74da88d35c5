"""Guard rails: stop a training run with a clear reason instead of producing a broken model.

Checked on a fixed validation batch (the same content/style pairs every time):
- non-finite losses;
- collapse: stylized images of different photos are nearly identical, although the photos differ;
- colour inversion: the result's luminance is anti-correlated with the photo's.
"""

from __future__ import annotations

import math

import torch


class TrainingDiverged(RuntimeError):
    """Training went wrong in a way more steps will not fix; `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_losses(losses: dict[str, float], step: int) -> None:
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        raise TrainingDiverged(
            "non_finite_loss", f"step {step}: loss {', '.join(bad)} is NaN or inf"
        )


def _luminance(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


def check_outputs(
    contents: torch.Tensor,
    outputs: torch.Tensor,
    step: int,
    *,
    collapse_ratio: float = 0.05,
    inversion_corr: float = -0.5,
) -> None:
    """contents, outputs: (N, 3, H, W) in [0, 1], N >= 2 different photos (same style order)."""
    if not torch.isfinite(outputs).all():
        raise TrainingDiverged(
            "non_finite_output", f"step {step}: the generator outputs NaN or inf"
        )
    n = outputs.shape[0]
    if n >= 2:
        out_dist = torch.cdist(outputs.flatten(1), outputs.flatten(1)).sum() / (n * (n - 1))
        in_dist = torch.cdist(contents.flatten(1), contents.flatten(1)).sum() / (n * (n - 1))
        if in_dist > 0 and out_dist / in_dist < collapse_ratio:
            raise TrainingDiverged(
                "mode_collapse",
                f"step {step}: outputs of different photos are nearly identical "
                f"(distance ratio {float(out_dist / in_dist):.3f} < {collapse_ratio})",
            )
    a = _luminance(contents).flatten(1)
    b = _luminance(outputs).flatten(1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    corr = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-8)
    if float(corr.mean()) < inversion_corr:
        raise TrainingDiverged(
            "colour_inversion",
            f"step {step}: results are tonally inverted (luminance correlation {float(corr.mean()):.2f})",
        )
