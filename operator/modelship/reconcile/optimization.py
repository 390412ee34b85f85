"""Post-training quantization as a lifecycle step (`spec.optimize`), as pure functions: the
optimization Job `<md>-optimize-<version>` that quantizes one published version and
publishes the result as `<version>`, and the plan of one reconcile — from the spec, the
store's versions, this resource's optimization Jobs and their pods, `status.optimize` and
the clock, to the Job to start (if any), the new `status.optimize` and the Events.

What is optimized: the newest complete TensorFlow version that the gate lets through and
that has no optimized version made with the same method yet, and only while no training
run is making a newer one. Each (source, method) is tried once: a failed or rejected run is
not retried until a newer source appears or spec.optimize changes method. Whether the
optimized version is served is the gate's decision (`gate.optimization_decision`), made from
the store every time; this module only reports it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from modelship.api import ModelDeploymentSpec, OptimizeSpec, SpecError
from modelship.api.reasons import (
    OPTIMIZATION_FAILED,
    OPTIMIZATION_JOB_REFUSED,
    OPTIMIZATION_PENDING,
    OPTIMIZATION_PUBLISHED,
    OPTIMIZATION_RUNNING,
    OPTIMIZATION_STARTED,
    OPTIMIZED_VERSION_NOT_PUBLISHED,
)
from modelship.api.timestamps import parse_timestamp, rfc3339
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.gate import gate_versions, optimization_decision
from modelship.reconcile.jobs import (
    as_int,
    job_finished,
    job_of,
    run_active,
    stale_jobs,
)
from modelship.reconcile.owner import Owner, object_labels, owned_metadata
from modelship.reconcile.podsecurity import container_security_context, pod_security_context
from modelship.reconcile.status import Event
from modelship.reconcile.storage import storage_env
from modelship.reconcile.training import (
    ENV_POD_NAME,
    ENV_TRAINING_JOB,
    PERMANENT_FAILURE_EXIT_CODE,
    SCRATCH_DIR,
    TRAINER_CONTAINER,
    TrainingSettings,
    training_outcome,
)

OPTIMIZATION: Final = "optimization"  # the app.kubernetes.io/component of its Jobs and pods
ANNOTATION_SOURCE_VERSION: Final = "modelship.io/source-version"
ANNOTATION_METHOD: Final = "modelship.io/quantization"

# How long a finished run's version may take to appear in the store's listing.
PUBLISH_GRACE: Final = timedelta(minutes=10)


def optimization_job_name(md_name: str, version: int) -> str:
    return f"{md_name}-optimize-{version}"


def optimization_job(
    owner: Owner,
    spec: ModelDeploymentSpec,
    source_version: int,
    version: int,
    settings: TrainingSettings | None = None,
) -> dict[str, Any]:
    """The Job that quantizes `source_version` and publishes it as `version`: the trainer
    image running `modelship optimize`, restricted like every pod of ours, with the S3
    credentials referenced from spec.storage.secretRef."""
    optimize = spec.optimize
    if optimize is None:
        raise ValueError("spec.optimize is not set: there is nothing to optimize")
    settings = settings or TrainingSettings()
    name = optimization_job_name(owner.name, version)
    labels = object_labels(owner, OPTIMIZATION, spec.model.name or owner.name, version)
    container: dict[str, Any] = {
        # The trainer's name, so `training_outcome` reads this Job's pods the same way.
        "name": TRAINER_CONTAINER,
        "image": optimize.image or settings.default_image,
        "command": ["modelship"],
        "args": [
            "optimize",
            spec.model.storage_uri,
            "--source-version",
            str(source_version),
            "--quantization",
            optimize.quantization,
            "--evaluation-data",
            optimize.evaluation_data_uri,
            "--version",
            str(version),
        ],
        "env": [
            {"name": "HOME", "value": SCRATCH_DIR},
            {"name": ENV_TRAINING_JOB, "value": name},
            {"name": ENV_POD_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            *storage_env(spec.storage),
        ],
        "volumeMounts": [{"name": "tmp", "mountPath": SCRATCH_DIR}],
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if optimize.resources:
        container["resources"] = dict(optimize.resources)
    job_spec: dict[str, Any] = {
        "backoffLimit": 1,
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": TRAINER_CONTAINER,
                        "operator": "In",
                        "values": [PERMANENT_FAILURE_EXIT_CODE],
                    },
                },
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        },
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "automountServiceAccountToken": False,
                "restartPolicy": "Never",
                "securityContext": pod_security_context(),
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            },
        },
    }
    if optimize.active_deadline is not None:
        job_spec["activeDeadlineSeconds"] = max(1, math.ceil(optimize.active_deadline))
    annotations = {
        ANNOTATION_SOURCE_VERSION: str(source_version),
        ANNOTATION_METHOD: optimize.quantization,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": owned_metadata(owner, name, labels, annotations),
        "spec": job_spec,
    }


@dataclass(frozen=True)
class OptimizationPlan:
    objects: tuple[dict[str, Any], ...]
    """To server-side apply once: the Job of a run that starts now."""
    optimize_status: dict[str, Any] | None
    """`status.optimize` as it should be; None = leave it as it is."""
    events: tuple[Event, ...]
    active: bool
    """A run is making a version (pending, running, or finished and not yet listed)."""
    stale_jobs: tuple[str, ...] = ()
    """Finished optimization Jobs beyond the last few kept, for the controller to delete."""

    @property
    def reserved_version(self) -> int | None:
        """The version number an active run will publish (no training run may take it)."""
        if not self.active or self.optimize_status is None:
            return None
        return as_int(self.optimize_status.get("version"))


NOTHING: Final = OptimizationPlan((), None, (), active=False)


def plan_optimization(
    owner: Owner,
    spec: ModelDeploymentSpec | SpecError,
    versions: Sequence[VersionInfo] | ArtifactError,
    jobs: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    previous: Mapping[str, Any] | None,
    *,
    now: datetime,
    settings: TrainingSettings | None = None,
    training_active: bool = False,
    training_version: int | None = None,
    current_version: int | None = None,
) -> OptimizationPlan:
    """Decide the optimization side of one reconcile (see the module docstring).

    `training_active`/`training_version`: whether a training run is making a version and
    which number it has (status.training.version), so both never publish the same number.
    `current_version`: status.currentVersion, for the gate."""
    if isinstance(spec, SpecError) or spec.optimize is None:
        return NOTHING
    plan = _plan(owner, spec, spec.optimize, versions, jobs, pods, previous, now, settings,
                 training_active, training_version, current_version)  # fmt: skip
    return dataclasses.replace(plan, stale_jobs=stale_jobs(jobs))


def _plan(
    owner: Owner,
    spec: ModelDeploymentSpec,
    optimize: OptimizeSpec,
    versions: Sequence[VersionInfo] | ArtifactError,
    jobs: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    previous: Mapping[str, Any] | None,
    now: datetime,
    settings: TrainingSettings | None,
    training_active: bool,
    training_version: int | None,
    current_version: int | None,
) -> OptimizationPlan:
    last = dict(previous or {})
    events: list[Event] = []
    jobs_by_name = {str(j["metadata"]["name"]): j for j in jobs}

    # 1. Where the recorded run stands now.
    if last.get("jobName") and last.get("state") in ("Pending", "Running"):
        name = str(last["jobName"])
        outcome = training_outcome(jobs_by_name.get(name), [p for p in pods if job_of(p) == name])
        if outcome.state == "Failed":
            last.update(
                state="Failed",
                reason=outcome.reason,
                message=outcome.message,
                completionTime=rfc3339(now),
            )
            events.append(_failure_event(outcome.reason, outcome.message))
        elif outcome.state == "Succeeded" and not last.get("completionTime"):
            # Still Running in status until its version is listed and judged below.
            last.update(state="Running", reason=OPTIMIZATION_RUNNING, completionTime=rfc3339(now))
            last["message"] = (
                f"Job {name} finished; waiting for version {last.get('version')} to be listed."
            )
        elif not outcome.finished:
            running = outcome.state == "Running"
            last.update(
                state=outcome.state,
                reason=OPTIMIZATION_RUNNING if running else OPTIMIZATION_PENDING,
                message=_job_words(outcome.message),
            )
    if isinstance(versions, ArtifactError):
        return OptimizationPlan((), last or None, tuple(events), active=run_active(last))

    # 2. A finished run's version, judged by the gate as the serving side will judge it.
    number = as_int(last.get("version"))
    published = next((v for v in versions if v.number == number), None)
    if last.get("state") == "Running" and last.get("completionTime"):
        if published is not None and published.state == "complete":
            _judge(spec, versions, published, current_version, last, events)
        elif now - (parse_timestamp(str(last["completionTime"])) or now) >= PUBLISH_GRACE:
            message = (
                f"Job {last.get('jobName')} finished but version {number} was not published "
                f"within {int(PUBLISH_GRACE.total_seconds() // 60)} minutes; check its logs."
            )
            last.update(state="Failed", reason=OPTIMIZED_VERSION_NOT_PUBLISHED, message=message)
            events.append(_failure_event(OPTIMIZED_VERSION_NOT_PUBLISHED, message))
    if run_active(last) or training_active:
        return OptimizationPlan((), last or None, tuple(events), active=run_active(last))

    # 3. Whether a new run starts.
    source = newest_source(spec, versions, current_version)
    if source is None or _already_optimized(versions, source.number, optimize):
        return OptimizationPlan((), last or None, tuple(events), active=False)
    if as_int(last.get("sourceVersion")) == source.number and last.get("method") == (
        optimize.quantization
    ):
        return OptimizationPlan((), last or None, tuple(events), active=False)  # tried once
    if any(not job_finished(j) for j in jobs_by_name.values()):
        return OptimizationPlan((), last or None, tuple(events), active=True)
    highest = max((v.number for v in versions), default=0)
    version = max(highest, training_version or 0, number or 0) + 1
    job = optimization_job(owner, spec, source.number, version, settings)
    started = {
        "jobName": job["metadata"]["name"],
        "sourceVersion": source.number,
        "version": version,
        "method": optimize.quantization,
        "state": "Pending",
        "reason": OPTIMIZATION_STARTED,
        "message": (
            f"quantizing version {source.number} with {optimize.quantization} into version "
            f"{version}."
        ),
        "startTime": rfc3339(now),
    }
    events.append(
        Event(
            "Normal",
            OPTIMIZATION_STARTED,
            f"quantizing version {source.number} with {optimize.quantization} into version "
            f"{version} in Job {started['jobName']}.",
        )
    )
    return OptimizationPlan((job,), started, tuple(events), active=True)


def refused_optimization(plan: OptimizationPlan, message: str) -> OptimizationPlan:
    """The plan after the API server refused to create the run's Job: recorded as failed
    with the server's words (so the same source and method are not tried again)."""
    last = dict(plan.optimize_status or {})
    job = last.get("jobName", "the optimization Job")
    text = f"the API server refused to create {job}: {message}"
    last.update(state="Failed", reason=OPTIMIZATION_JOB_REFUSED, message=text)
    events = (
        *(e for e in plan.events if e.reason != OPTIMIZATION_STARTED),
        _failure_event(OPTIMIZATION_JOB_REFUSED, text),
    )
    return OptimizationPlan((), last, events, active=False)


def reserving_versions(
    versions: Sequence[VersionInfo] | ArtifactError, optimize_status: Mapping[str, Any] | None
) -> Sequence[VersionInfo] | ArtifactError:
    """The store's versions plus, while an optimization run is making one, a placeholder
    for its number (as an unfinished upload): given to the training planner, so a training
    run never takes the number an optimization run will publish."""
    status = optimize_status or {}
    number = as_int(status.get("version"))
    if isinstance(versions, ArtifactError) or not run_active(status) or number is None:
        return versions
    if any(v.number == number for v in versions):
        return versions
    placeholder = VersionInfo(
        number=number, state="incomplete", manifest=None, digest=None, size=0, created=None
    )
    return [*versions, placeholder]


def newest_source(
    spec: ModelDeploymentSpec, versions: Sequence[VersionInfo], current_version: int | None
) -> VersionInfo | None:
    """The newest complete TensorFlow version the gate lets through: what to optimize."""
    deployable = gate_versions(spec, versions, current_version).deployable
    candidates = [
        v
        for v in deployable
        if v.state == "complete"
        and (
            v.manifest is None
            or (v.manifest.derived_from is None and v.manifest.framework == "tensorflow")
        )
    ]
    return max(candidates, key=lambda v: v.number, default=None)


def _already_optimized(
    versions: Sequence[VersionInfo], source: int, optimize: OptimizeSpec
) -> bool:
    return any(
        v.manifest is not None
        and v.manifest.derived_from is not None
        and v.manifest.derived_from.version == source
        and v.manifest.derived_from.method == optimize.quantization
        for v in versions
    )


def _judge(
    spec: ModelDeploymentSpec,
    versions: Sequence[VersionInfo],
    published: VersionInfo,
    current_version: int | None,
    last: dict[str, Any],
    events: list[Event],
) -> None:
    origin = published.manifest.derived_from if published.manifest is not None else None
    last["metrics"] = dict(published.metrics)
    if origin is not None:
        last["sourceMetrics"] = dict(origin.source_metrics)
    held = gate_versions(spec, versions, current_version).rejected.get(published.number)
    if held is not None:
        last.update(state="Rejected", reason=held.reason, message=held.message)
        events.append(Event("Warning", held.reason, held.message))
        return
    message = f"version {published.number} is published and may be served."
    if origin is not None and spec.optimize is not None:
        message = optimization_decision(spec.optimize, published).message
    last.update(state="Succeeded", reason=OPTIMIZATION_PUBLISHED, message=message)
    events.append(Event("Normal", OPTIMIZATION_PUBLISHED, message))


def _failure_event(cause: str, message: str) -> Event:
    """Every failure has the reason OptimizationFailed (one alert catches them all); the
    cause (InvalidEvaluationData, OOMKilled...) starts the message."""
    if cause == OPTIMIZATION_FAILED:
        return Event("Warning", OPTIMIZATION_FAILED, message)
    return Event("Warning", OPTIMIZATION_FAILED, f"{cause}: {message}")


def _job_words(message: str) -> str:
    # training_outcome speaks of training; this Job quantizes.
    return message.replace(" is training ", " is optimizing ").replace("worker(s) ", "pod(s) ")
