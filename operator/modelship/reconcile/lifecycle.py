"""The training half of one reconcile, as a pure function: from the spec, the store's
versions, this resource's training Jobs and their pods, the last run recorded in
`status.training` and the clock, to the Job to start (if any), the new `status.training`
and the Events to post.

A run's result is read from the cluster and the store every time, so an operator restart in
the middle of a run loses nothing: the Job is found by the name recorded in status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelship.api import ModelDeploymentSpec, SpecError
from modelship.api.reasons import (
    DRIFT_DETECTED,
    GATE_REJECTED,
    RETRAIN_REQUESTED,
    TRAINING_JOB_REFUSED,
    TRAINING_STARTED,
    VERSION_NOT_PUBLISHED,
)
from modelship.api.timestamps import rfc3339
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.findings import Finding
from modelship.reconcile.gate import gate_versions
from modelship.reconcile.jobs import as_int, job_finished, job_of, run_active, stale_jobs
from modelship.reconcile.owner import Owner
from modelship.reconcile.schedule import (
    TrainingDecision,
    next_version_number,
    should_start_training,
    training_spec_hash,
)
from modelship.reconcile.status import Event
from modelship.reconcile.training import (
    TRAINING_FAILED,
    TRAINING_SUCCEEDED,
    TrainingOutcome,
    TrainingSettings,
    training_job,
    training_job_name,
    training_outcome,
)

RETRAIN_ANNOTATION = "modelship.io/retrain"


@dataclass(frozen=True)
class TrainingPlan:
    objects: tuple[dict[str, Any], ...]
    """To server-side apply once: the Job (and a headless Service for several workers)."""
    training_status: dict[str, Any] | None
    """`status.training` as it should be; None = leave it as it is."""
    events: tuple[Event, ...]
    active: bool
    """A run is making a version (pending or running)."""
    next_check: datetime | None = None
    """When a schedule is next due, for the controller to come back then."""
    stale_jobs: tuple[str, ...] = ()
    """Finished training Jobs beyond the last few kept, for the controller to delete."""

    @property
    def failure(self) -> Finding | None:
        """The last run failed and nothing will start another by itself: why, for the
        resource's conditions (Stalled while no version exists to serve)."""
        last = self.training_status or {}
        if self.active or last.get("state") != "Failed":
            return None
        job = last.get("jobName") or "the training Job"
        version = f" for version {last['version']}" if last.get("version") else ""
        reason = f" ({last['reason']})" if last.get("reason") else ""
        detail = str(last.get("message") or f"{job} failed").rstrip(". ")
        act = f"change spec.training or give the annotation {RETRAIN_ANNOTATION} a new value"
        if self.next_check is not None:
            # A cron schedule retries it by itself: waiting helps, so it is not Stalled.
            return Finding(
                TRAINING_FAILED,
                f"the training run{version} failed{reason}: {detail}. The next scheduled run "
                f"is at {rfc3339(self.next_check)}; to try sooner, {act}.",
                needs_person=False,
            )
        return Finding(
            TRAINING_FAILED,
            f"the training run{version} failed{reason}: {detail}. It is not retried with the "
            f"same spec.training: fix the cause, then {act}.",
        )


def plan_training(
    owner: Owner,
    spec: ModelDeploymentSpec | SpecError,
    versions: Sequence[VersionInfo] | ArtifactError,
    jobs: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    previous: Mapping[str, Any] | None,
    *,
    created: datetime,
    now: datetime,
    settings: TrainingSettings | None = None,
    retrain: str | None = None,
    current_version: int | None = None,
    drift: str | None = None,
) -> TrainingPlan:
    """Decide the training side of one reconcile (see the module docstring).

    `retrain`: the value of the `modelship.io/retrain` annotation; a value not seen before
    starts a run on demand. `current_version`: status.currentVersion, for the gate.
    `drift`: why drift asks for a run (reconcile.drift, action Retrain, cooldown over); it
    starts one as the annotation does, unless a run is already on its way."""
    last = dict(previous or {})
    if isinstance(spec, SpecError) or spec.training is None:
        return TrainingPlan((), None, (), active=False)
    events: list[Event] = []
    jobs_by_name = {str(j["metadata"]["name"]): j for j in jobs}
    stale = stale_jobs(jobs)

    # 1. Where the recorded run stands now.
    if last.get("jobName") and last.get("state") in ("Pending", "Running"):
        name = str(last["jobName"])
        job = jobs_by_name.get(name)
        outcome = training_outcome(job, [p for p in pods if job_of(p) == name])
        if outcome.state != last.get("state") or outcome.reason != last.get("reason"):
            last.update(state=outcome.state, reason=outcome.reason, message=outcome.message)
            if outcome.finished:
                last["completionTime"] = rfc3339(now)
                metrics = _metrics_of(versions, last.get("version"))
                if metrics:
                    last["metrics"] = metrics
                events.append(_finished_event(outcome))
    if isinstance(versions, ArtifactError):
        return TrainingPlan((), last or None, tuple(events), active=run_active(last))
    if last.get("state") == "Succeeded":
        if not last.get("metrics") and (metrics := _metrics_of(versions, last.get("version"))):
            last["metrics"] = metrics
        rejected = _gate_rejection(spec, versions, last, current_version)
        if rejected is not None:
            last.update(state="Rejected", reason=GATE_REJECTED, message=rejected)
            events.append(Event("Warning", GATE_REJECTED, rejected))
        unpublished = _unpublished(last, versions)
        if unpublished is not None and last.get("state") == "Succeeded":
            # The trainer publishes before it exits and the stores we support list what was
            # written, so a completed Job (seen before the listing was taken) without its
            # version is a run that failed to publish: waiting would only hide it.
            last.update(state="Failed", reason=VERSION_NOT_PUBLISHED, message=unpublished)
            events = [e for e in events if e.reason != TRAINING_SUCCEEDED]  # not a success
            events.append(_failure_event(VERSION_NOT_PUBLISHED, unpublished))

    # 2. Whether a new run starts.
    running = [n for n, j in jobs_by_name.items() if not job_finished(j)]
    decision = should_start_training(
        spec, versions, last or None, running_jobs=running, created=created, now=now
    )
    # A request is a value that changed after status.training was first written: the one a
    # resource is created with (or had before training was configured) starts nothing.
    requested = bool(retrain) and bool(last) and retrain != last.get("retrain")
    if not decision.start and requested and not running:
        decision = TrainingDecision(
            True,
            RETRAIN_REQUESTED,
            f'the annotation {RETRAIN_ANNOTATION} changed to "{retrain}": training a new version.',
            decision.spec_hash or training_spec_hash(spec.training),
        )
    if not decision.start and drift and not running and not run_active(last):
        decision = TrainingDecision(
            True,
            DRIFT_DETECTED,
            f"{drift.rstrip('.')}; training a new version (spec.monitoring.drift.action Retrain).",
            decision.spec_hash or training_spec_hash(spec.training),
        )
    if not decision.start:
        if decision.spec_hash and "specHash" not in last:
            last["specHash"] = decision.spec_hash
        if retrain and "retrain" not in last and not last.get("jobName"):
            # The value present before any run is not a request; one set while a run (started
            # without it) goes on is, and starts a run once that one is done.
            last["retrain"] = retrain
        return TrainingPlan(
            (),
            last or None,
            tuple(events),
            active=run_active(last),
            next_check=decision.next_run,
            stale_jobs=stale,
        )
    version = next_version_number(versions, last_trained=as_int(last.get("version")))
    objects = training_job(owner, spec, version, settings, spec_hash=decision.spec_hash)
    started = {
        "jobName": training_job_name(owner.name, version),
        "version": version,
        "state": "Pending",
        "reason": decision.reason,
        "message": decision.message,
        "startTime": rfc3339(now),
        "specHash": decision.spec_hash,
        **({"retrain": retrain} if retrain else {}),
    }
    events.append(
        Event(
            "Normal",
            TRAINING_STARTED,
            f"training version {version} in Job {started['jobName']}: {decision.message}",
        )
    )
    return TrainingPlan(tuple(objects), started, tuple(events), active=True, stale_jobs=stale)


def refused_run(plan: TrainingPlan, message: str) -> TrainingPlan:
    """The plan after the API server refused to create the run's objects: the run is recorded
    as failed (so it is not tried again with the same spec.training) with the server's words."""
    last = dict(plan.training_status or {})
    job = last.get("jobName", "the training Job")
    last.update(
        state="Failed",
        reason=TRAINING_JOB_REFUSED,
        message=f"the API server refused to create {job}: {message.strip()}",
        completionTime=last.get("startTime"),
    )
    events = (
        *(e for e in plan.events if e.reason != TRAINING_STARTED),
        _failure_event(TRAINING_JOB_REFUSED, last["message"]),
    )
    return dataclasses.replace(plan, objects=(), training_status=last, events=events, active=False)


def _finished_event(outcome: TrainingOutcome) -> Event:
    if outcome.state == "Succeeded":
        return Event("Normal", outcome.reason, outcome.message)
    return _failure_event(outcome.reason, outcome.message)


def _failure_event(cause: str, message: str) -> Event:
    """A failed run's Event. Every failure has the reason TrainingFailed, so one alert
    catches them all; the cause (OOMKilled, DeadlineExceeded...) starts the message."""
    if cause == TRAINING_FAILED:
        return Event("Warning", TRAINING_FAILED, message)
    return Event("Warning", TRAINING_FAILED, f"{cause}: {message}")


def _gate_rejection(
    spec: ModelDeploymentSpec,
    versions: Sequence[VersionInfo],
    last: Mapping[str, Any],
    current_version: int | None,
) -> str | None:
    """Why the gate holds the run's version back, or None (it passed, or is not there yet)."""
    number = as_int(last.get("version"))
    if number is None or spec.training is None:
        return None
    gated = gate_versions(spec, versions, current_version)
    decision = gated.rejected.get(number)
    return decision.message if decision is not None else None


def _unpublished(last: Mapping[str, Any], versions: Sequence[VersionInfo]) -> str | None:
    """Why the completed run's version is not there to serve, or None: it is published
    complete (or the run made no version number)."""
    number = last.get("version")
    if number is None:
        return None
    found = next((v for v in versions if v.number == number), None)
    if found is not None and found.state == "complete":
        return None
    name = last.get("jobName")
    job, logs = (f"Job {name}", f" (kubectl logs job/{name})") if name else ("the training Job", "")
    where = "not in the store" if found is None else f"{found.state} in the store"
    return (
        f"{job} completed but version {number} is {where}; the trainer publishes its version "
        f"before it exits, so the run failed to publish it: read the trainer's logs{logs}."
    )


def _metrics_of(
    versions: Sequence[VersionInfo] | ArtifactError, number: object
) -> dict[str, float]:
    if isinstance(versions, ArtifactError):
        return {}
    return next((dict(v.metrics) for v in versions if v.number == number), {})
