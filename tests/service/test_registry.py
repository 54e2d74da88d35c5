"""The quality gate's arithmetic, and the activation rules on models without a gate."""

from worker.registry import quality_gate


def test_gate_passes_only_with_better_style_and_content_within_the_margin():
    base = {"style": 2.0, "content": 1.0}
    verdict = quality_gate(
        {"style": 1.5, "content": 1.04}, base, content_margin=0.05, baseline_id="b"
    )
    assert verdict["passed"] is True and verdict["failures"] == []
    worse_style = quality_gate(
        {"style": 2.0, "content": 0.9}, base, content_margin=0.05, baseline_id="b"
    )
    assert [f["code"] for f in worse_style["failures"]] == ["style_not_better"]
    worse_content = quality_gate(
        {"style": 1.0, "content": 1.06}, base, content_margin=0.05, baseline_id="b"
    )
    assert [f["code"] for f in worse_content["failures"]] == ["content_worse"]
    both = quality_gate({"style": 3.0, "content": 2.0}, base, content_margin=0.5, baseline_id="b")
    assert not both["passed"] and len(both["failures"]) == 2
    none = quality_gate({"style": 1.0, "content": 1.0}, None, content_margin=0.05, baseline_id=None)
    assert not none["passed"] and none["failures"][0]["code"] == "no_baseline"


def test_rollback_without_history_and_unknown_models_are_refused(api):
    admin = api.headers(api.admin_key)
    response = api.client.post("/v1/models/rollback", headers=admin)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nothing_to_roll_back"
    missing = api.client.post("/v1/models/nope/activate", headers=admin)
    assert missing.status_code == 404
