"""One pass over a ModelDeployment planned in one call: serving, training, drift and
optimization land in one status patch; the objects come in the order they must be applied;
a Job the API server refused becomes a failed run; the same observation, the same plan."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from modelship.api.reasons import (
    DRIFT_DETECTED,
    OPTIMIZATION_JOB_REFUSED,
    TRAINING_JOB_REFUSED,
    TRAINING_STARTED,
)
from modelship.artifacts.baseline import Baseline, FeatureBaseline
from modelship.reconcile.drift import DriftCheck, DriftReadings, PodSummary
from modelship.reconcile.modeldeployment import (
    Deletion,
    Observation,
    Plan,
    PlanSettings,
    plan_model_deployment,
    rollout_in_flight,
)
from modelship.reconcile.optimization import OPTIMIZATION
from modelship.reconcile.owner import TRAINING
from modelship.reconcile.schedule import training_spec_hash
from modelship.reconcile.training import training_job
from tests.unit.reconcile.builders import NOW, ModelDeploymentBuilder, model_deployment, version

EVAL = "s3://models/eval/digits.npz"
BASELINE = Baseline(
    samples=1000, features=(FeatureBaseline("pixels[0]", "input", (0.0,), (1000, 0)),)
)


def retrained_on_drift() -> ModelDeploymentBuilder:
    """Trains, watches drift (and retrains on it) and quantizes."""
    md = model_deployment()
    md._set("training", "entrypoint", "digits:train")
    md._spec["monitoring"] = {"drift": {"max": 0.25, "minSamples": 100, "action": "Retrain"}}
    md._spec["optimize"] = {"quantization": "Int8", "evaluationDataUri": EVAL}
    return md


def spec_hash(md: ModelDeploymentBuilder) -> str:
    training = md.spec().training
    assert training is not None
    return training_spec_hash(training)


def drifted(version_number: int = 1) -> DriftReadings:
    """One serving pod answered with traffic far from the baseline."""
    check = DriftCheck(version_number, BASELINE, "digits", 8501, 3600.0)
    pod = PodSummary("digits-serving-a", version_number, True, 1000, {"input pixels[0]": (0, 1000)})
    return DriftReadings(check, (pod,), asked=1)


def failed_job(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": "2025-05-01T11:00:00Z"},
        "spec": {"parallelism": 1},
        "status": {"conditions": [{"type": "Failed", "status": "True"}]},
    }


def observation(md: ModelDeploymentBuilder, **fields: Any) -> Observation:
    """What a pass gathers for `md` (version 1 published, nothing else) with `fields` changed."""
    return Observation(
        **{
            "owner": md.owner(),
            "spec": md.spec(),
            "generation": 1,
            "created": NOW - timedelta(days=1),
            "artifacts": [version(1)],
            "poll_interval": 30.0,
            **fields,
        }
    )


def everything_at_once() -> Observation:
    """Version 1 serves; its traffic drifted; a quantization of it failed."""
    md = retrained_on_drift()
    status = {
        "observedGeneration": 1,
        "currentVersion": 1,
        "training": {
            "jobName": "digits-train-1",
            "version": 1,
            "state": "Succeeded",
            "specHash": spec_hash(md),
        },
        "optimize": {
            "jobName": "digits-optimize-2",
            "sourceVersion": 1,
            "version": 2,
            "method": "Int8",
            "state": "Running",
        },
    }
    return observation(
        md,
        status=status,
        drift=drifted(),
        optimization_jobs=[failed_job("digits-optimize-2")],
    )


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in plan.objects]


def test_one_status_patch_carries_serving_training_drift_and_optimize() -> None:
    plan = plan_model_deployment(everything_at_once(), NOW)
    patch = plan.status_patch
    assert patch["phase"] == "Deploying"  # serving: version 1 is on its way
    assert patch["targetVersion"] == 1
    assert patch["training"]["state"] == "Pending"
    assert patch["training"]["reason"] == DRIFT_DETECTED  # drift started the run...
    assert patch["monitoring"]["verdict"] == DRIFT_DETECTED
    assert patch["monitoring"]["lastRetrainTime"] == "2025-05-01T12:00:00Z"  # ...and its cooldown
    assert patch["optimize"]["state"] == "Failed"
    conditions = {c["type"]: c for c in patch["conditions"]}
    assert {"Ready", "Reconciling", "Stalled", "ArtifactReady", "DataDrift"} <= set(conditions)
    assert conditions["DataDrift"]["status"] == "True"
    reasons = [e.reason for e in plan.events]
    assert TRAINING_STARTED in reasons and DRIFT_DETECTED in reasons
    # Version 2 is the failed quantization's number until status.optimize lets it go.
    assert ("Job", "digits-train-3") in kinds(plan)


def test_the_same_observation_gives_the_same_plan() -> None:
    observed = everything_at_once()
    assert plan_model_deployment(observed, NOW) == plan_model_deployment(observed, NOW)


def test_a_refused_training_job_is_a_failed_run_and_no_job() -> None:
    observed = everything_at_once()
    started = plan_model_deployment(observed, NOW)
    refused = dataclasses.replace(observed, refused={TRAINING: "env[0].name: Invalid value"})
    plan = plan_model_deployment(refused, NOW)
    assert [o for o in plan.objects if o["kind"] == "Job"] == []
    assert plan.runs == ()
    training = plan.status_patch["training"]
    assert training["state"] == "Failed" and training["reason"] == TRAINING_JOB_REFUSED
    assert "env[0].name: Invalid value" in training["message"]
    assert TRAINING_STARTED not in [e.reason for e in plan.events]
    # A run that never started starts no cooldown; serving is planned as before.
    assert "lastRetrainTime" not in plan.status_patch["monitoring"]
    assert plan.services == started.services and plan.workloads == started.workloads


def test_a_refused_optimization_job_is_a_failed_run_and_no_job() -> None:
    md = model_deployment()
    md._spec["optimize"] = {"quantization": "Int8", "evaluationDataUri": EVAL}
    observed = observation(md, status={"currentVersion": 1})
    assert ("Job", "digits-optimize-2") in kinds(plan_model_deployment(observed, NOW))
    refused = dataclasses.replace(observed, refused={OPTIMIZATION: "forbidden: exceeded quota"})
    plan = plan_model_deployment(refused, NOW)
    assert plan.runs == ()
    optimize = plan.status_patch["optimize"]
    assert optimize["state"] == "Failed" and optimize["reason"] == OPTIMIZATION_JOB_REFUSED


def test_runs_come_first_then_services_then_deployments() -> None:
    md = model_deployment()
    md._set("training", "entrypoint", "digits:train")
    md._set("training", "workers", 2)
    plan = plan_model_deployment(observation(md, artifacts=[]), NOW)
    # No version yet: the run's headless Service and Job, then serving's Service only.
    assert kinds(plan) == [("Service", "digits-train-1"), ("Job", "digits-train-1"),
                           ("Service", "digits")]  # fmt: skip
    assert [o["kind"] for o in plan.runs] == ["Service", "Job"]
    assert [o["metadata"]["name"] for o in plan.services] == ["digits"]
    assert plan.workloads == ()

    canary = model_deployment()
    canary._spec["rollout"] = {"strategy": "BlueGreen"}
    plan = plan_model_deployment(observation(canary), NOW)
    served = [o["kind"] for o in plan.objects]
    assert served == sorted(served, key=lambda kind: kind != "Service")
    assert plan.services and plan.workloads
    assert plan.objects == (*plan.runs, *plan.services, *plan.workloads)


def test_old_finished_runs_and_their_headless_services_are_deleted() -> None:
    md = model_deployment()
    md._set("training", "entrypoint", "digits:train")
    md._set("training", "workers", 2)
    jobs = [failed_job(f"digits-train-{n}") for n in range(1, 6)]
    for n, job in enumerate(jobs, start=1):
        job["metadata"]["creationTimestamp"] = f"2025-05-01T0{n}:00:00Z"
    headless = training_job(md.owner(), md.spec(), 1)[0]
    stranger = {"kind": "Service", "metadata": {"name": "digits-train-2", "labels": {}}}
    status = {"training": {"jobName": "digits-train-5", "version": 5, "state": "Failed",
                           "specHash": spec_hash(md)}}  # fmt: skip
    plan = plan_model_deployment(
        observation(
            md,
            status=status,
            training_jobs=jobs,
            services={"digits-train-1": headless, "digits-train-2": stranger},
        ),
        NOW,
    )
    assert Deletion("batch/v1", "Job", "digits-train-1") in plan.deletions
    assert Deletion("v1", "Service", "digits-train-1") in plan.deletions
    assert Deletion("v1", "Service", "digits-train-2") not in plan.deletions  # not ours


def test_the_next_pass_comes_sooner_while_converging() -> None:
    settings = PlanSettings(converge_interval=2.0, event_recheck=10.0)
    md = model_deployment()
    converging = plan_model_deployment(observation(md, settings=settings), NOW)
    # The Deployment is on its way: its changes wake the loop, the timer is a safety net.
    assert converging.requeue_after == 10.0
    # A canary's steps and analysis move on the clock.
    assert rollout_in_flight({"rollout": {"phase": "Progressing"}})
    assert not rollout_in_flight({"rollout": {"phase": "Promoted"}})
    assert not rollout_in_flight({})
    failing = observation(md, artifacts=[version(1, "corrupt", reason="ChecksumMismatch")])
    assert plan_model_deployment(failing, NOW).requeue_after == 30.0  # a person must act
    soon = NOW + timedelta(seconds=5)
    measured = observation(md, artifacts=[version(1, "corrupt")], next_measurement=soon)
    assert plan_model_deployment(measured, NOW).requeue_after == 5.0
