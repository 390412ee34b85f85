"""The controller's side of drift monitoring: which pods are asked, and how a drift check
lands in the status patch (status.monitoring, the DataDrift condition, the cooldown)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelship.api import Condition
from modelship.controller.monitoring import ready_pod_addresses
from modelship.reconcile.drift import DriftAssessment
from modelship.reconcile.lifecycle import TrainingPlan
from modelship.reconcile.modeldeployment import drift_status_patch

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def pod(name: str, ready: bool, ip: str | None = "10.0.0.1", **meta: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]
    }
    if ip:
        status["podIP"] = ip
    return {"metadata": {"name": name, **meta}, "status": status}


def test_only_ready_pods_with_an_address_are_asked() -> None:
    pods = [
        pod("a", True),
        pod("b", False),
        pod("c", True, ip=None),
        pod("d", True, deletionTimestamp="2026-12-06T11:00:00Z"),
    ]
    assert ready_pod_addresses(pods) == [("a", "10.0.0.1")]


def drift(verdict: str = "DriftDetected", retrain: str | None = "drifted") -> DriftAssessment:
    return DriftAssessment(
        status={"version": 3, "verdict": verdict, "checkedAt": "2026-12-06T12:00:00Z"},
        condition=Condition(
            type="DataDrift",
            status="True",
            reason=verdict,
            message="drifted",
            observed_generation=2,
        ),
        events=(),
        retrain=retrain,
    )


def no_run() -> TrainingPlan:
    return TrainingPlan((), None, (), active=False)


def test_a_check_sets_the_data_drift_condition_beside_the_others() -> None:
    ready = {"type": "Ready", "status": "True", "reason": "Serving", "message": "ok"}
    status = {"conditions": [ready], "monitoring": {"version": 2, "score": 0.1}}
    patch = drift_status_patch(status, {}, drift(), no_run(), NOW)
    assert [c["type"] for c in patch["conditions"]] == ["Ready", "DataDrift"]
    assert patch["conditions"][1]["lastTransitionTime"] == "2026-12-06T12:00:00Z"
    assert patch["monitoring"]["score"] is None  # a merge patch drops the old key
    assert "lastRetrainTime" not in patch["monitoring"]
    # The same check again changes nothing: nothing to write.
    after = {"conditions": patch["conditions"], "monitoring": drift().status}
    assert drift_status_patch(after, {}, drift(), no_run(), NOW) == {}


def test_a_run_started_by_drift_starts_the_cooldown() -> None:
    started = TrainingPlan(
        ({"kind": "Job"},), {"reason": "DriftDetected", "state": "Pending"}, (), active=True
    )
    patch = drift_status_patch({}, {}, drift(), started, NOW)
    assert patch["monitoring"]["lastRetrainTime"] == "2026-12-06T12:00:00Z"
    other = TrainingPlan(
        ({"kind": "Job"},), {"reason": "RetrainRequested", "state": "Pending"}, (), active=True
    )
    assert "lastRetrainTime" not in drift_status_patch({}, {}, drift(), other, NOW)["monitoring"]
