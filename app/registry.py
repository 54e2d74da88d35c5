"""The model registry's quality gate, as plain arithmetic on two evaluations (no torch).

A candidate passes when, on the same held-out pairs, its style score is lower (better) than the
baseline's and its content score is at most `content_margin` (a fraction) higher (worse). Without
a baseline (trained from scratch with no model active) there is nothing to compare: the gate
fails with `no_baseline`, and an admin must force activation with a reason after looking at the
contact sheet.
"""

from typing import Any


def quality_gate(
    candidate: dict[str, float],
    baseline: dict[str, float] | None,
    *,
    content_margin: float,
    baseline_id: str | None,
) -> dict[str, Any]:
    if baseline is None:
        return {
            "passed": False,
            "baseline_model_id": None,
            "content_margin": content_margin,
            "failures": [{"code": "no_baseline", "message": "no base or active model to compare"}],
        }
    failures = []
    if not candidate["style"] < baseline["style"]:
        failures.append(
            {
                "code": "style_not_better",
                "message": f"style score {candidate['style']:.4g} is not below the baseline's "
                f"{baseline['style']:.4g}",
            }
        )
    limit = baseline["content"] * (1 + content_margin)
    if not candidate["content"] <= limit:
        failures.append(
            {
                "code": "content_worse",
                "message": f"content score {candidate['content']:.4g} exceeds the baseline's "
                f"{baseline['content']:.4g} by more than {content_margin:.0%}",
            }
        )
    return {
        "passed": not failures,
        "baseline_model_id": baseline_id,
        "content_margin": content_margin,
        "failures": failures,
    }
