"""Post-training quantization as a lifecycle step, without a cluster: the optimization Job,
when a run starts, what its end means, and the gate that serves an optimized version only
within spec.optimize.maxMetricDrop of its source."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelship.api import ModelDeploymentSpec
from modelship.artifacts.manifest import DerivedFrom, Manifest, ManifestFile
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.gate import gate_versions, optimization_decision
from modelship.reconcile.optimization import (
    OptimizationPlan,
    optimization_job,
    plan_optimization,
    refused_optimization,
    reserving_versions,
)
from tests.unit.reconcile.builders import NOW, digest_of, model_deployment

EVAL = "s3://models/eval/digits.npz"


def optimized_spec(
    quantization: str = "Int8", *, drop: float | None = None, gate: dict[str, Any] | None = None,
    **extra: Any,
) -> ModelDeploymentSpec:  # fmt: skip
    md = model_deployment()
    optimize: dict[str, Any] = {"quantization": quantization, "evaluationDataUri": EVAL, **extra}
    if drop is not None:
        optimize["maxMetricDrop"] = drop
    md._spec["optimize"] = optimize
    if gate is not None:
        md._set("training", "entrypoint", "pkg.mod:train")
        md._set("training", "gate", gate)
    return md.spec()


def published(
    number: int,
    metrics: dict[str, float],
    *,
    source: int | None = None,
    method: str = "Int8",
    source_metrics: dict[str, float] | None = None,
) -> VersionInfo:
    """A complete version with its manifest: a SavedModel, or (with `source`) an optimized
    TensorFlow Lite version of `source`."""
    origin = None
    if source is not None:
        origin = DerivedFrom(source, method, digest_of(source), source_metrics or {})
    manifest = Manifest(
        version=number,
        files=(ManifestFile("model.tflite" if origin else "saved_model.pb", 10, "0" * 64),),
        framework="tflite" if origin else "tensorflow",
        framework_version="2.21.0",
        signatures=(),
        created="2025-05-01T00:00:00Z",
        metrics=metrics,
        derived_from=origin,
    )
    return VersionInfo(
        number=number,
        state="complete",
        manifest=manifest,
        digest=digest_of(number),
        size=10,
        created=manifest.created,
        metrics=metrics,
    )


def plan(
    spec: ModelDeploymentSpec,
    versions: list[VersionInfo],
    previous: dict[str, Any] | None = None,
    jobs: list[dict[str, Any]] | None = None,
    pods: list[dict[str, Any]] | None = None,
    **options: Any,
) -> OptimizationPlan:
    return plan_optimization(
        model_deployment().owner(), spec, versions, jobs or [], pods or [], previous, now=NOW,
        **options,
    )  # fmt: skip


def job_with(state: str, message: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The observed Job digits-optimize-4 and its pod, finished as `state`."""
    job = optimization_job(model_deployment().owner(), optimized_spec(), 3, 4)
    kind = "Complete" if state == "Succeeded" else "Failed"
    job["status"] = {"conditions": [{"type": kind, "status": "True", "reason": "X"}]}
    terminated = {"exitCode": 0 if state == "Succeeded" else 2, "message": message}
    pod = {
        "metadata": {
            "name": "digits-optimize-4-abcde",
            "labels": {"batch.kubernetes.io/job-name": "digits-optimize-4"},
            "creationTimestamp": "2025-05-01T11:00:00Z",
        },
        "status": {
            "phase": state,
            "containerStatuses": [{"name": "trainer", "state": {"terminated": terminated}}],
        },
    }
    return job, [pod]


RUNNING = {
    "jobName": "digits-optimize-4",
    "sourceVersion": 3,
    "version": 4,
    "method": "Int8",
    "state": "Running",
    "reason": "OptimizationRunning",
    "startTime": "2025-05-01T11:00:00Z",
}


# -- the Job --------------------------------------------------------------------------------


def test_the_job_runs_modelship_optimize_restricted_with_referenced_credentials() -> None:
    md = model_deployment().secret("s3-creds")
    md._spec["optimize"] = {"quantization": "Float16", "evaluationDataUri": EVAL}
    job = optimization_job(md.owner(), md.spec(), 3, 4)
    assert job["metadata"]["name"] == "digits-optimize-4"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "optimization"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == [
        "optimize", "s3://models/digits", "--source-version", "3", "--quantization", "Float16",
        "--evaluation-data", EVAL, "--version", "4",
    ]  # fmt: skip
    assert container["image"] == "ghcr.io/modelship/trainer:0.1.0"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    secrets = [v for v in container["env"] if "secretKeyRef" in v.get("valueFrom", {})]
    assert {v["valueFrom"]["secretKeyRef"]["name"] for v in secrets} == {"s3-creds"}
    assert all("value" not in v for v in secrets)  # referenced, never copied


# -- when a run starts ----------------------------------------------------------------------


def test_a_new_source_version_starts_one_run_into_the_next_number() -> None:
    result = plan(optimized_spec(), [published(1, {"accuracy": 0.9}), published(3, {})])
    (job,) = result.objects
    assert job["metadata"]["name"] == "digits-optimize-4"
    assert "--source-version" in job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert result.optimize_status is not None
    assert result.optimize_status["sourceVersion"] == 3
    assert result.optimize_status["version"] == 4
    assert result.optimize_status["state"] == "Pending"
    assert [e.reason for e in result.events] == ["OptimizationStarted"]
    assert result.active and result.reserved_version == 4


@pytest.mark.parametrize(
    ("versions", "previous", "options", "why"),
    [
        ([], None, {}, "no version yet"),
        ([published(3, {}), published(4, {}, source=3)], None, {}, "already optimized"),
        ([published(3, {})], {**RUNNING, "state": "Failed"}, {}, "tried once, failed"),
        ([published(3, {})], {**RUNNING, "state": "Rejected"}, {}, "tried once, rejected"),
        ([published(3, {})], RUNNING | {"state": "Pending"}, {}, "a run is in progress"),
        ([published(3, {})], None, {"training_active": True}, "training makes a newer one"),
        ([published(4, {}, source=3, method="Float16")], None, {}, "only optimized versions"),
    ],
)
def test_no_run_starts(
    versions: list[VersionInfo], previous: dict[str, Any] | None, options: dict[str, Any],
    why: str,
) -> None:  # fmt: skip
    assert plan(optimized_spec(), versions, previous, **options).objects == (), why


def test_a_new_method_optimizes_the_same_source_again() -> None:
    versions = [published(3, {}), published(4, {}, source=3, method="Float16")]
    previous = {**RUNNING, "method": "Float16", "state": "Succeeded"}
    (job,) = plan(optimized_spec("Int8"), versions, previous).objects
    assert job["metadata"]["name"] == "digits-optimize-5"


def test_a_source_the_training_gate_holds_back_is_not_optimized() -> None:
    spec = optimized_spec(gate={"metric": "accuracy", "min": 0.9})
    versions = [published(2, {"accuracy": 0.95}), published(3, {"accuracy": 0.5})]
    (job,) = plan(spec, versions, current_version=2).objects
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][3] == "2"


def test_the_number_a_training_run_holds_is_not_taken() -> None:
    (job,) = plan(optimized_spec(), [published(3, {})], training_version=7).objects
    assert job["metadata"]["name"] == "digits-optimize-8"


def test_the_training_planner_sees_the_number_an_active_run_will_publish() -> None:
    versions = [published(3, {})]
    reserved = reserving_versions(versions, RUNNING)
    assert isinstance(reserved, list)
    assert [(v.number, v.state) for v in reserved] == [(3, "complete"), (4, "incomplete")]
    assert reserving_versions(versions, {**RUNNING, "state": "Failed"}) == versions


# -- what a run's end means -----------------------------------------------------------------


def test_a_failed_job_records_the_reason_the_optimizer_wrote() -> None:
    job, pods = job_with("Failed", "InvalidEvaluationData: the evaluation data has no 'x'.")
    result = plan(optimized_spec(), [published(3, {})], RUNNING, [job], pods)
    assert result.optimize_status is not None
    assert result.optimize_status["state"] == "Failed"
    assert result.optimize_status["reason"] == "InvalidEvaluationData"
    assert "has no 'x'" in result.optimize_status["message"]
    (event,) = result.events
    assert event.type == "Warning" and event.reason == "OptimizationFailed"
    assert event.message.startswith("InvalidEvaluationData: ")
    assert result.objects == ()  # not retried for the same source and method


def test_a_finished_job_waits_for_its_version_then_gives_up() -> None:
    job, pods = job_with("Succeeded")
    waiting = plan(optimized_spec(), [published(3, {})], RUNNING, [job], pods)
    assert waiting.optimize_status is not None and waiting.active
    assert "waiting for version 4" in waiting.optimize_status["message"]
    later = plan_optimization(
        model_deployment().owner(), optimized_spec(), [published(3, {})], [job], pods,
        waiting.optimize_status, now=NOW + timedelta(minutes=11),
    )  # fmt: skip
    assert later.optimize_status is not None
    assert later.optimize_status["reason"] == "OptimizedVersionNotPublished"


def test_a_published_version_within_the_drop_is_reported_as_served() -> None:
    job, pods = job_with("Succeeded")
    versions = [
        published(3, {"accuracy": 0.95}),
        published(4, {"accuracy": 0.945}, source=3, source_metrics={"accuracy": 0.95}),
    ]
    status = plan(optimized_spec(), versions, RUNNING, [job], pods).optimize_status
    assert status is not None
    assert status["state"] == "Succeeded" and status["reason"] == "OptimizationPublished"
    assert status["metrics"] == {"accuracy": 0.945}
    assert status["sourceMetrics"] == {"accuracy": 0.95}


def test_a_published_version_that_lost_too_much_is_rejected_with_the_numbers() -> None:
    job, pods = job_with("Succeeded")
    versions = [
        published(3, {"accuracy": 0.95}),
        published(4, {"accuracy": 0.9}, source=3, source_metrics={"accuracy": 0.95}),
    ]
    result = plan(optimized_spec(), versions, RUNNING, [job], pods, current_version=3)
    status = result.optimize_status
    assert status is not None
    assert status["state"] == "Rejected" and status["reason"] == "OptimizationRejected"
    assert "accuracy 0.9 against 0.95" in status["message"]
    assert "0.05 lower" in status["message"] and "maxMetricDrop 0.01" in status["message"]
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "OptimizationRejected")]


def test_a_refused_job_is_a_failed_run_with_the_servers_words() -> None:
    started = plan(optimized_spec(), [published(3, {})])
    refused = refused_optimization(started, 'Job "digits-optimize-4" is invalid')
    assert refused.objects == () and not refused.active
    assert refused.optimize_status is not None
    assert refused.optimize_status["reason"] == "OptimizationJobRefused"
    assert [e.reason for e in refused.events] == ["OptimizationFailed"]


# -- the gate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("goal", "drop", "source", "value", "passed", "reason"),
    [
        ("Maximize", 0.01, 0.95, 0.945, True, "OptimizationPassed"),
        ("Maximize", 0.01, 0.95, 0.94, True, "OptimizationPassed"),  # exactly the limit
        ("Maximize", 0.01, 0.95, 0.93, False, "OptimizationRejected"),
        ("Maximize", 0.0, 0.95, 0.96, True, "OptimizationPassed"),  # better is fine
        ("Minimize", 0.01, 0.20, 0.205, True, "OptimizationPassed"),
        ("Minimize", 0.01, 0.20, 0.25, False, "OptimizationRejected"),
    ],
)
def test_the_metric_may_drop_at_most_max_metric_drop(
    goal: str, drop: float, source: float, value: float, passed: bool, reason: str
) -> None:
    spec = optimized_spec(drop=drop, metric="m", goal=goal)
    candidate = published(4, {"m": value}, source=3, source_metrics={"m": source})
    assert spec.optimize is not None
    decision = optimization_decision(spec.optimize, candidate)
    assert (decision.passed, decision.reason) == (passed, reason)
    assert f"{value:g}" in decision.message and f"{source:g}" in decision.message


def test_without_the_metric_on_both_sides_it_is_not_served() -> None:
    spec = optimized_spec()
    assert spec.optimize is not None
    candidate = published(4, {}, source=3)
    decision = optimization_decision(spec.optimize, candidate, published(3, {"accuracy": 1}))
    assert not decision.passed and decision.reason == "OptimizationMetricMissing"
    # The source manifest's value stands in when the run measured none for the source.
    candidate = published(4, {"accuracy": 0.99}, source=3)
    assert optimization_decision(spec.optimize, candidate, published(3, {"accuracy": 1})).passed


def test_the_gate_holds_back_an_optimized_version_but_not_its_source() -> None:
    spec = optimized_spec(gate={"metric": "accuracy", "mustImprove": True})
    versions = [
        published(3, {"accuracy": 0.95}),
        published(4, {"accuracy": 0.5}, source=3, source_metrics={"accuracy": 0.95}),
    ]
    gated = gate_versions(spec, versions, current_version=3)
    assert [v.number for v in gated.deployable] == [3]
    assert gated.rejected[4].reason == "OptimizationRejected"
    # Within the drop, it passes although it does not improve on version 3 (mustImprove
    # judges training, not quantization).
    versions[1] = published(4, {"accuracy": 0.945}, source=3, source_metrics={"accuracy": 0.95})
    assert [v.number for v in gate_versions(spec, versions, 3).deployable] == [3, 4]


def test_an_optimization_of_a_held_back_source_is_held_back_with_it() -> None:
    spec = optimized_spec(gate={"metric": "accuracy", "min": 0.9})
    versions = [
        published(2, {"accuracy": 0.95}),
        published(3, {"accuracy": 0.5}),
        published(4, {"accuracy": 0.5}, source=3, source_metrics={"accuracy": 0.5}),
    ]
    gated = gate_versions(spec, versions, current_version=2)
    assert gated.rejected[4].reason == "GateFailed"
    assert "optimization of version 3, which is held back" in gated.rejected[4].message


def test_only_the_last_three_finished_jobs_are_kept() -> None:
    owner = model_deployment().owner()
    jobs = []
    for number in range(2, 7):
        job = optimization_job(owner, optimized_spec(), number - 1, number)
        job["metadata"]["creationTimestamp"] = f"2025-05-01T0{number}:00:00Z"
        job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
        jobs.append(job)
    running = optimization_job(owner, optimized_spec(), 6, 7)
    running["metadata"]["creationTimestamp"] = "2025-05-01T08:00:00Z"
    result = plan(optimized_spec(), [published(6, {})], RUNNING, [*jobs, running])
    assert result.stale_jobs == ("digits-optimize-2", "digits-optimize-3")
