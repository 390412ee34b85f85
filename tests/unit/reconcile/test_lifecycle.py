"""The training half of a reconcile: when a run starts, how its result is read, and that a
finished run waits for its version instead of starting another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelship.artifacts.errors import ArtifactError
from modelship.reconcile.lifecycle import TrainingPlan, plan_training, refused_run
from modelship.reconcile.schedule import training_spec_hash
from tests.unit.reconcile.builders import model_deployment, version

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(hours=1)


def trained() -> Any:
    md = model_deployment()
    md._set("training", "entrypoint", "digits:build_and_train")
    return md


def spec_hash(md: Any) -> str:
    return training_spec_hash(md.spec().training)


def planned(
    md: Any,
    versions: Any,
    jobs: Any,
    pods: Any,
    last: dict[str, Any] | None,
    **kwargs: Any,
) -> TrainingPlan:
    """plan_training for `md` at NOW, created an hour before."""
    return plan_training(
        md.owner(), md.spec(), versions, jobs, pods, last, created=CREATED, now=NOW, **kwargs
    )


def job(name: str, condition: str | None = None) -> dict[str, Any]:
    conditions = [{"type": condition, "status": "True"}] if condition else []
    return {
        "metadata": {"name": name},
        "spec": {"parallelism": 1},
        "status": {"conditions": conditions},
    }


def failed_pod(job_name: str, message: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{job_name}-x",
            "labels": {"batch.kubernetes.io/job-name": job_name},
            "creationTimestamp": "2026-11-22T11:59:00Z",
        },
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {"name": "trainer", "state": {"terminated": {"exitCode": 1, "message": message}}}
            ],
        },
    }


def test_no_version_starts_training_version_one() -> None:
    md = trained()
    plan = planned(md, [], [], [], None)
    kinds = [o["kind"] for o in plan.objects]
    assert kinds == ["Job"]
    assert plan.objects[0]["metadata"]["name"] == "digits-train-1"
    assert plan.training_status is not None
    assert plan.training_status["version"] == 1 and plan.training_status["state"] == "Pending"
    assert plan.active
    assert [e.reason for e in plan.events] == ["TrainingStarted"]


def test_a_run_in_progress_or_succeeded_is_no_failure() -> None:
    md = trained()
    started = planned(md, [], [], [], None)
    assert started.active and started.failure is None


def test_a_running_job_starts_nothing_else() -> None:
    md = trained()
    last = {"jobName": "digits-train-1", "version": 1, "state": "Pending"}
    plan = planned(md, [], [job("digits-train-1")], [], last)
    assert plan.objects == ()
    assert plan.active


def test_a_failed_run_reports_the_trainers_reason_and_is_not_retried() -> None:
    md = trained()
    last = {
        "jobName": "digits-train-1",
        "version": 1,
        "state": "Running",
        "specHash": spec_hash(md),
    }
    first = planned(
        md,
        [],
        [job("digits-train-1", "Failed")],
        [failed_pod("digits-train-1", "TrainingFailed: loss is NaN")],
        last,
    )
    assert first.training_status is not None
    assert first.training_status["state"] == "Failed"
    assert first.training_status["reason"] == "TrainingFailed"
    assert "loss is NaN" in first.training_status["message"]
    assert any(e.type == "Warning" and e.reason == "TrainingFailed" for e in first.events)
    assert first.objects == ()
    again = planned(md, [], [job("digits-train-1", "Failed")], [], first.training_status)
    assert again.objects == (), "a failed run must not be retried with the same spec"
    # Nothing will retry it, so the resource's conditions carry it (Stalled while no version).
    for plan in (first, again):
        assert plan.failure is not None
        assert plan.failure.reason == "TrainingFailed" and plan.failure.needs_person
        assert plan.failure.message.startswith(
            "the training run for version 1 failed (TrainingFailed): Job digits-train-1 failed: "
            "loss is NaN. It is not retried"
        )
        assert "modelship.io/retrain" in plan.failure.message


def test_every_failure_is_one_event_reason_with_the_cause_in_the_message() -> None:
    md = trained()
    last = {
        "jobName": "digits-train-1",
        "version": 1,
        "state": "Running",
        "specHash": spec_hash(md),
    }
    entrypoint_missing = failed_pod("digits-train-1", "EntrypointNotFound: no module digits")
    plan = planned(md, [], [job("digits-train-1", "Failed")], [entrypoint_missing], last)
    assert plan.training_status is not None
    assert plan.training_status["reason"] == "EntrypointNotFound"  # the cause, kept in status
    (event,) = plan.events
    assert (event.type, event.reason) == ("Warning", "TrainingFailed")
    assert event.message.startswith("EntrypointNotFound: ")


def test_a_completed_run_with_its_version_published_records_its_metrics() -> None:
    md = trained()
    last = {"jobName": "digits-train-1", "version": 1, "state": "Running"}
    published = [version(1, metrics={"accuracy": 0.96})]
    done = planned(md, published, [job("digits-train-1", "Complete")], [], last)
    assert done.training_status is not None
    assert done.training_status["state"] == "Succeeded"
    assert done.training_status["metrics"] == {"accuracy": 0.96}
    assert done.objects == ()
    (event,) = done.events
    assert (event.type, event.reason) == ("Normal", "TrainingSucceeded")


def test_a_run_that_completed_without_its_version_fails_as_soon_as_it_is_seen() -> None:
    md = trained()
    last = {
        "jobName": "digits-train-1",
        "version": 1,
        "state": "Running",
        "specHash": spec_hash(md),
    }
    plan = planned(md, [], [job("digits-train-1", "Complete")], [], last)
    assert plan.training_status is not None
    assert plan.training_status["state"] == "Failed"
    assert plan.training_status["reason"] == "VersionNotPublished"
    assert plan.training_status["message"] == (
        "Job digits-train-1 completed but version 1 is not in the store; the trainer publishes "
        "its version before it exits, so the run failed to publish it: read the trainer's logs "
        "(kubectl logs job/digits-train-1)."
    )
    assert plan.objects == (), "the same spec.training is not tried again by itself"
    assert not plan.active
    (event,) = plan.events  # one failure, no success Event before it
    assert (event.type, event.reason) == ("Warning", "TrainingFailed")
    assert event.message.startswith("VersionNotPublished: Job digits-train-1 completed")
    assert plan.failure is not None and plan.failure.needs_person


def test_a_recorded_success_whose_version_is_gone_or_incomplete_is_a_failure() -> None:
    md = trained()
    last = {
        "jobName": "digits-train-1",
        "version": 1,
        "state": "Succeeded",
        "completionTime": "2026-11-22T11:59:59Z",  # a second ago: no grace
        "specHash": spec_hash(md),
    }
    incomplete = [version(1, state="incomplete")]
    plan = planned(md, incomplete, [job("digits-train-1", "Complete")], [], last)
    assert plan.training_status is not None
    assert plan.training_status["reason"] == "VersionNotPublished"
    assert "version 1 is incomplete in the store" in plan.training_status["message"]
    (event,) = plan.events
    assert (event.type, event.reason) == ("Warning", "TrainingFailed")


def test_a_run_is_not_failed_while_the_store_cannot_be_read() -> None:
    md = trained()
    last = {"jobName": "digits-train-1", "version": 1, "state": "Running"}
    unreadable = ArtifactError("StorageUnavailable", "the endpoint did not answer")
    plan = planned(md, unreadable, [job("digits-train-1", "Complete")], [], last)
    assert plan.training_status is not None
    assert plan.training_status["state"] == "Succeeded"


def test_no_training_spec_means_no_plan() -> None:
    md = model_deployment()
    plan = planned(md, [], [], [], None)
    assert plan.objects == () and plan.training_status is None and not plan.active


def test_a_new_retrain_annotation_value_starts_a_run_on_demand() -> None:
    md = trained()
    published = [version(1, metrics={"accuracy": 0.9})]
    last = {
        "jobName": "digits-train-1",
        "version": 1,
        "state": "Succeeded",
        "specHash": spec_hash(md),
        "retrain": "a",
    }
    same = planned(md, published, [job("digits-train-1", "Complete")], [], last, retrain="a")
    assert same.objects == ()
    new = planned(md, published, [job("digits-train-1", "Complete")], [], last, retrain="b")
    assert [o["metadata"]["name"] for o in new.objects] == ["digits-train-2"]
    assert new.training_status is not None and new.training_status["retrain"] == "b"
    assert new.training_status["reason"] == "RetrainRequested"


def test_a_retrain_requested_during_a_run_starts_one_after_it() -> None:
    md = trained()
    published = [version(1, metrics={"accuracy": 0.9})]
    running = {
        "jobName": "digits-train-2",
        "version": 2,
        "state": "Running",
        "specHash": spec_hash(md),
        "reason": "Scheduled",  # started by the schedule: no annotation then
    }
    during = planned(md, published, [job("digits-train-2")], [], running, retrain="please")
    assert during.objects == (), "never two runs at once"
    assert during.training_status is not None
    assert "retrain" not in during.training_status, "the request must not be marked done"
    finished = {**during.training_status, "state": "Succeeded", "metrics": {"accuracy": 0.9}}
    after = planned(
        md,
        [*published, version(2, metrics={"accuracy": 0.9})],
        [job("digits-train-2", "Complete")],
        [],
        finished,
        retrain="please",
    )
    assert [o["metadata"]["name"] for o in after.objects] == ["digits-train-3"]
    assert after.training_status is not None and after.training_status["retrain"] == "please"


def test_the_value_present_before_any_run_is_not_a_request() -> None:
    md = trained()
    plan = planned(
        md, [version(1, metrics={"accuracy": 0.9})], [], [], None, retrain="from-the-manifest"
    )
    assert plan.objects == ()
    assert plan.training_status is not None
    assert plan.training_status["retrain"] == "from-the-manifest"


def test_a_failed_run_with_a_schedule_waits_for_it_instead_of_stalling() -> None:
    md = trained()
    md._set("training", "schedule", "0 3 * * *")
    failed = {
        "jobName": "digits-train-1",
        "version": 1,
        "state": "Failed",
        "reason": "OOMKilled",
        "message": "Job digits-train-1: the trainer was killed for memory.",
        "startTime": "2026-11-22T10:00:00Z",
        "specHash": spec_hash(md),
    }
    plan = planned(md, [], [job("digits-train-1", "Failed")], [], failed)
    assert plan.objects == ()
    assert plan.failure is not None and not plan.failure.needs_person
    assert "The next scheduled run is at 2026-11-23T03:00:00Z" in plan.failure.message


def test_a_run_the_api_server_refuses_is_recorded_as_failed() -> None:
    md = trained()
    started = planned(md, [], [], [], None)
    refused = refused_run(started, 'Job.batch "digits-train-1" is invalid: spec.x: Invalid \n')
    assert refused.objects == () and not refused.active
    assert refused.training_status is not None
    assert refused.training_status["state"] == "Failed"
    assert refused.training_status["reason"] == "TrainingJobRefused"
    assert "refused to create digits-train-1: Job.batch" in refused.training_status["message"]
    assert refused.training_status["message"].endswith("spec.x: Invalid")  # no space, no newline
    assert [e.reason for e in refused.events] == ["TrainingFailed"]
    assert refused.failure is not None and refused.failure.needs_person
    # Not tried again with the same spec.training.
    again = planned(md, [], [], [], refused.training_status)
    assert again.objects == ()


def test_a_version_below_the_gate_is_rejected_with_both_numbers() -> None:
    md = trained()
    md._set("training", "gate", {"metric": "accuracy", "min": 0.9})
    published = [version(1, metrics={"accuracy": 0.95}), version(2, metrics={"accuracy": 0.4})]
    last = {
        "jobName": "digits-train-2",
        "version": 2,
        "state": "Succeeded",
        "specHash": spec_hash(md),
    }
    plan = planned(md, published, [job("digits-train-2", "Complete")], [], last, current_version=1)
    assert plan.training_status is not None
    assert plan.training_status["state"] == "Rejected"
    assert plan.training_status["reason"] == "GateRejected"
    assert "0.4" in plan.training_status["message"] and "0.9" in plan.training_status["message"]
    assert any(e.reason == "GateRejected" and e.type == "Warning" for e in plan.events)


def test_only_the_last_few_finished_jobs_are_kept() -> None:
    md = trained()
    jobs = [job(f"digits-train-{n}", "Complete") for n in range(1, 6)]
    for n, j in enumerate(jobs, 1):
        j["metadata"]["creationTimestamp"] = f"2026-11-2{n}T00:00:00Z"
    published = [version(n) for n in range(1, 6)]
    last = {
        "jobName": "digits-train-5",
        "version": 5,
        "state": "Succeeded",
        "specHash": spec_hash(md),
    }
    plan = planned(md, published, jobs, [], last)
    assert plan.stale_jobs == ("digits-train-1", "digits-train-2")


def test_drift_starts_a_run_as_the_annotation_does_unless_one_is_on_its_way() -> None:
    md = trained()
    published = [version(1, metrics={"accuracy": 0.9})]
    last = {
        "jobName": "digits-train-1",
        "version": 1,
        "state": "Succeeded",
        "specHash": spec_hash(md),
    }
    finished = [job("digits-train-1", "Complete")]
    quiet = planned(md, published, finished, [], last)
    assert quiet.objects == ()
    drifted = planned(md, published, finished, [], last, drift="pixels[3] has PSI 0.9.")
    assert [o["metadata"]["name"] for o in drifted.objects] == ["digits-train-2"]
    assert drifted.training_status is not None
    assert drifted.training_status["reason"] == "DriftDetected"
    assert "spec.monitoring.drift.action Retrain" in drifted.training_status["message"]
    running = {**last, "jobName": "digits-train-2", "version": 2, "state": "Running"}
    busy = planned(md, published, [*finished, job("digits-train-2")], [], running, drift="again")
    assert busy.objects == ()
