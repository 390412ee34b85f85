"""Drift monitoring by the operator on the real test bed: with spec.monitoring.drift it
checks the serving version against the baseline in its manifest and says so in
status.monitoring and the DataDrift condition. The pods here are kwok's (their IPs reach no
server), so no pod answers and the verdict is InsufficientSamples, naming how many were
asked; the counts themselves are proven against a real server in test_server_drift.py, and
the scoring in tests/unit/reconcile/test_reconcile_drift.py."""

from __future__ import annotations

import numpy as np
import pytest

from modelship.artifacts.features import make_baseline
from tests.integration.operator_env import ModelWorld, condition_of, is_ready_with

pytestmark = pytest.mark.integration


def monitoring_of(version: int, verdict: str) -> object:
    def check(status: dict[str, object]) -> bool:
        monitoring = status.get("monitoring") or {}
        assert isinstance(monitoring, dict)
        return monitoring.get("version") == version and monitoring.get("verdict") == verdict

    return check


def test_the_serving_version_is_checked_against_its_baseline(operating: ModelWorld) -> None:
    world = operating
    sample = np.random.default_rng(0).random((200, 4), dtype=np.float32)
    world.store().push(
        world.saved_model, metrics={"accuracy": 0.9}, baseline=make_baseline({"x": sample})
    )
    md = world.model_deployment().replicas(2).set("storage.pollInterval", "5s")
    md.set("monitoring", {"drift": {"minSamples": 50, "window": "30m"}})
    world.cluster.apply(md.obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")

    status = world.wait_status(
        monitoring_of(1, "InsufficientSamples"), "a drift check of version 1", timeout=90
    )
    monitoring = status["monitoring"]
    assert (monitoring["samples"], monitoring["pods"], monitoring["window"]) == (0, 0, "30m")
    assert monitoring["checkedAt"]
    drift = condition_of(status, "DataDrift")
    assert (drift["status"], drift["reason"]) == ("Unknown", "InsufficientSamples")
    assert "0 of 2 serving pods answered" in drift["message"]
    assert "needs 50" in drift["message"]
    assert condition_of(status, "Ready")["status"] == "True"  # drift checks change nothing else

    # A version published without a baseline cannot be checked, and says how to fix it.
    world.publish()
    status = world.wait_status(
        monitoring_of(2, "BaselineMissing"), "a drift check of version 2", timeout=120
    )
    drift = condition_of(status, "DataDrift")
    assert (drift["status"], drift["reason"]) == ("Unknown", "BaselineMissing")
    assert "modelship push --baseline" in drift["message"]
