"""The Argo CD health check shipped in the chart (argocd/health.lua), run by a real Lua
runtime on ModelDeployments as the operator reports them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.chart.helm import CHART

lupa = pytest.importorskip("lupa")

SCRIPT = (CHART / "argocd" / "health.lua").read_text()


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """Argo CD's verdict: the script sees the object as the global `obj` and returns a table
    with status and message. Like Argo CD, it gets no os, io or module loading."""
    lua = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    for name in ("os", "io", "require", "package", "dofile", "loadfile", "debug"):
        lua.globals()[name] = None
    lua.globals()["obj"] = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return result["status"], result["message"]


def condition(
    kind: str, status: str, reason: str = "", message: str = "", observed: int | None = None
) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-05-01T12:00:00Z",
    }
    if observed is not None:
        cond["observedGeneration"] = observed
    return cond


def model_deployment(
    generation: int = 3, observed: int | None = 3, *conditions: dict[str, Any]
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Ready", "conditions": list(conditions)}
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "digits", "namespace": "ml", "generation": generation},
        "spec": {"model": {"storageUri": "s3://models/digits"}},
        "status": status,
    }


READY = condition("Ready", "True", "Serving", "Version 3 serves on 2/2 replicas.", observed=3)
NOT_RECONCILING = condition("Reconciling", "False", "Converged", "Nothing in flight.")
NOT_STALLED = condition("Stalled", "False", "Converged", "")


def test_ready_at_the_current_generation_is_healthy() -> None:
    status, message = health(model_deployment(3, 3, READY, NOT_RECONCILING, NOT_STALLED))
    assert status == "Healthy"
    assert "Version 3 serves on 2/2 replicas." in message


def test_a_status_about_an_older_generation_is_progressing_even_when_it_says_ready() -> None:
    status, message = health(model_deployment(4, 3, READY, NOT_RECONCILING, NOT_STALLED))
    assert status == "Progressing"
    assert "generation 4" in message


def test_a_stale_stall_is_not_reported_once_the_spec_changed() -> None:
    stalled = condition("Stalled", "True", "VersionNotFound", "Version 9 does not exist.")
    status, _ = health(model_deployment(5, 4, stalled))
    assert status == "Progressing"


def test_a_ready_condition_from_an_older_generation_is_not_healthy() -> None:
    old_ready = condition("Ready", "True", "Serving", "Version 2 serves.", observed=2)
    status, _ = health(model_deployment(3, 3, old_ready, NOT_RECONCILING, NOT_STALLED))
    assert status == "Progressing"


def test_reconciling_is_progressing_with_the_operators_message() -> None:
    rolling = condition(
        "Reconciling", "True", "RollingOut", "Rolling out version 4: 1/2 replicas ready."
    )
    not_ready = condition("Ready", "False", "RollingOut", "Version 4 is rolling out.")
    status, message = health(model_deployment(3, 3, not_ready, rolling, NOT_STALLED))
    assert status == "Progressing"
    assert message == "RollingOut: Rolling out version 4: 1/2 replicas ready."


def test_stalled_is_degraded_with_its_reason_and_message() -> None:
    stalled = condition(
        "Stalled",
        "True",
        "Unschedulable",
        "0/6 nodes are available: 6 Insufficient nvidia.com/gpu.",
    )
    not_ready = condition("Ready", "False", "Unschedulable", "No replica is ready.")
    status, message = health(model_deployment(3, 3, not_ready, stalled))
    assert status == "Degraded"
    assert message == "Unschedulable: 0/6 nodes are available: 6 Insufficient nvidia.com/gpu."


def test_stalled_wins_over_reconciling() -> None:
    stalled = condition("Stalled", "True", "ChecksumMismatch", "saved_model.pb changed.")
    rolling = condition("Reconciling", "True", "RollingOut", "Rolling out version 4.")
    status, _ = health(model_deployment(3, 3, rolling, stalled))
    assert status == "Degraded"


@pytest.mark.parametrize(
    "obj",
    [
        {"metadata": {"name": "new", "generation": 1}},
        model_deployment(1, None),
        model_deployment(1, 1),
    ],
)
def test_without_a_verdict_from_the_operator_it_is_progressing(obj: dict[str, Any]) -> None:
    status, message = health(obj)
    assert status == "Progressing"
    assert message


def test_it_is_never_suspended() -> None:
    cases = [
        model_deployment(3, 3, READY),
        model_deployment(3, 2, READY),
        model_deployment(3, 3, condition("Stalled", "True", "SpecInvalid", "bad")),
        model_deployment(3, 3, condition("Ready", "Unknown", "Starting", "")),
    ]
    assert {health(obj)[0] for obj in cases} == {"Healthy", "Progressing", "Degraded"}
