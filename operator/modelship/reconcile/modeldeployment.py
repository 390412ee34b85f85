"""One pass over a ModelDeployment, decided in one pure call: from everything the controller
gathered for it (an `Observation`) and the clock, to everything it must do (a `Plan`): the
objects to server-side apply in order, the Jobs to delete, the HTTPRoute's weights, ONE
status patch, the Events, and when to look again.

The parts are decided here in the order they depend on each other: drift (whether it asks
for a training run), training (the run to start and the number it takes), optimization
(never a number training took, never while training makes a version), then serving (the
target version, the rollout, the status, told whether a run is making a version).

Two things only the API server can say are fed back by planning again with them in the
`Observation`: a Job it refused (`Observation.refused`: the plan then records that run as
failed, with the server's words, instead of applying its Job), and the HTTPRoute, read only
when `Plan.route_wanted` says so. Running it again on the same observation gives the same plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple

from modelship.api import ModelDeploymentSpec, SpecError, set_condition
from modelship.api.reasons import DRIFT_DETECTED
from modelship.api.status import RolloutPhase
from modelship.api.timestamps import rfc3339
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.analysis import Measurement
from modelship.reconcile.deployment import DEFAULT_SERVING_IMAGE, ServingSettings
from modelship.reconcile.desired import ServingObservation, plan_serving
from modelship.reconcile.drift import (
    DriftAssessment,
    DriftReadings,
    assess_readings,
    retrain_started,
)
from modelship.reconcile.findings import Finding
from modelship.reconcile.jobs import as_int
from modelship.reconcile.lifecycle import (
    RETRAIN_ANNOTATION,
    TrainingPlan,
    plan_training,
    refused_run,
)
from modelship.reconcile.optimization import (
    NOTHING,
    OPTIMIZATION,
    OptimizationPlan,
    plan_optimization,
    refused_optimization,
    reserving_versions,
)
from modelship.reconcile.owner import LABEL_COMPONENT, TRAINING, Owner
from modelship.reconcile.rollout import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from modelship.reconcile.status import Event
from modelship.reconcile.traffic import RoutePatch, route_wanted
from modelship.reconcile.training import (
    DEFAULT_TRAINER_IMAGE,
    TrainingSettings,
    is_training_service,
)

RUNS: Final = (TRAINING, OPTIMIZATION)
"""The components whose objects start a run: applied before serving's, and a refusal of one
is recorded as a failed run (`Observation.refused`) rather than retried."""


@dataclass(frozen=True)
class PlanSettings:
    """The operator's own settings a plan needs (from its command line / Helm values)."""

    server_image: str = DEFAULT_SERVING_IMAGE
    trainer_image: str = DEFAULT_TRAINER_IMAGE
    converge_interval: float = 2.0
    """Seconds between two passes while converging on a clock (a canary's steps and
    analysis, a blue-green's preview)."""
    event_recheck: float = 10.0
    """Seconds between two passes while converging on events only (a Deployment rolling, pods
    on their way): every change of them wakes the loop, so the timer is only a safety net."""


@dataclass(frozen=True)
class Observation:
    """What the controller gathered for one ModelDeployment in one pass."""

    owner: Owner
    spec: ModelDeploymentSpec | SpecError
    """`parse_spec(body["spec"], name=metadata.name)`, or the SpecError it raised."""
    generation: int
    """metadata.generation."""
    created: datetime
    """metadata.creationTimestamp (a training schedule counts from it)."""
    artifacts: Sequence[VersionInfo] | ArtifactError
    """The store's listing of versions, or why it could not be read (() with a SpecError)."""
    poll_interval: float
    """Seconds between two passes of a steady resource (spec.storage.pollInterval within the
    operator's bounds)."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """metadata.annotations (retrain, promote, abort)."""
    status: Mapping[str, Any] = field(default_factory=dict)
    """The ModelDeployment's status as read."""
    deployment: Mapping[str, Any] | None = None
    """The Deployment `<md>-serving`, None when it does not exist."""
    canary_deployment: Mapping[str, Any] | None = None
    """The Deployment `<md>-canary`, None when it does not exist."""
    services: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The Services as read, by name: serving's (`<md>`, a Gateway rollout's stable and
    canary Services) and those named like the training Jobs (a multi-worker run's)."""
    pods: Sequence[Mapping[str, Any]] = ()
    """The serving pods (stable and canary)."""
    training_jobs: Sequence[Mapping[str, Any]] = ()
    """The training Jobs (read before the store was listed: a Job seen complete has its
    version in the listing); none without spec.training."""
    training_pods: Sequence[Mapping[str, Any]] = ()
    optimization_jobs: Sequence[Mapping[str, Any]] = ()
    """The optimization Jobs (read before the store was listed, as the training Jobs)."""
    optimization_pods: Sequence[Mapping[str, Any]] = ()
    drift: DriftReadings | None = None
    """The serving pods' answers when a drift check was due in this pass."""
    measurement: Measurement | None = None
    """The canary's last interval, when one was measured in this pass."""
    next_measurement: datetime | None = None
    """When the canary's analysis wants its next scrape."""
    http_route: Mapping[str, Any] | Finding | None = None
    """The HTTPRoute as read, or why it could not be read; None when not read in this pass."""
    refused: Mapping[str, str] = field(default_factory=dict)
    """The runs whose objects the API server refused in this pass, by component (TRAINING,
    OPTIMIZATION), with its message."""
    settings: PlanSettings = PlanSettings()


class Deletion(NamedTuple):
    """An owned object to delete, in the ModelDeployment's namespace."""

    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class Plan:
    """What the controller must do in this pass."""

    objects: tuple[dict[str, Any], ...]
    """To server-side apply, in order: the Jobs of runs that start now (and a multi-worker
    run's headless Service), then serving's Services, then its Deployments. The route patch
    goes between the Services and the Deployments (`services`, `workloads`)."""
    deletions: tuple[Deletion, ...]
    """Finished Jobs beyond the last few kept, and their headless Services: after applying."""
    route_patch: RoutePatch | None
    """The weights to write on the HTTPRoute."""
    status: dict[str, Any]
    """The status fields serving owns, as they should be (`reconcile.status.OWNED_FIELDS`)."""
    status_patch: dict[str, Any]
    """One merge patch for the status subresource (serving, training, drift, optimize);
    empty when nothing changed."""
    events: tuple[Event, ...]
    """Events to post on the ModelDeployment, as its status is written."""
    requeue_after: float
    """Seconds until the next pass, unless something wakes it sooner."""
    route_wanted: bool = False
    """The HTTPRoute must be read (it was not) and the pass planned again with it."""

    @property
    def converging(self) -> bool:
        """On its way somewhere (a rollout, pods starting), not resting until the next poll."""
        return converges(self.status)

    @property
    def runs(self) -> tuple[dict[str, Any], ...]:
        """The objects that start a run (`run_of`), applied first."""
        return tuple(o for o in self.objects if run_of(o) is not None)

    @property
    def services(self) -> tuple[dict[str, Any], ...]:
        """Serving's Services: applied before the route's weights, so a Service selects its
        new version before the route sends it traffic."""
        return tuple(o for o in self.objects if run_of(o) is None and o["kind"] == "Service")

    @property
    def workloads(self) -> tuple[dict[str, Any], ...]:
        """Serving's other objects (its Deployments): after the route's weights, so traffic
        leaves pods before they go."""
        return tuple(o for o in self.objects if run_of(o) is None and o["kind"] != "Service")


def run_of(obj: Mapping[str, Any]) -> str | None:
    """The run component (`RUNS`) an object belongs to, None for serving's."""
    component = ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_COMPONENT)
    return component if component in RUNS else None


def plan_model_deployment(observed: Observation, now: datetime) -> Plan:
    """Decide one pass (see the module docstring)."""
    # The gate's mustImprove compares a new version with the one serving traffic now, so
    # training (its run's verdict), optimization (what it may quantize) and serving (its
    # target) all give the gate status.currentVersion, not this pass's target: the target
    # comes out of the gate, and serving chooses it once (plan_serving, handed to its status).
    serving_now = as_int(observed.status.get("currentVersion"))
    drift = assess_readings(
        observed.spec,
        observed.drift,
        observed.status.get("monitoring"),
        generation=observed.generation,
        now=now,
    )
    training = _training(observed, serving_now, drift, now)
    optimization = _optimization(observed, training, serving_now, now)
    serving = plan_serving(
        observed.owner,
        ServingObservation(
            spec=observed.spec,
            generation=observed.generation,
            artifacts=observed.artifacts,
            deployment=observed.deployment,
            pods=observed.pods,
            status=observed.status,
            training=training.active,
            training_failure=training.failure,
            canary_deployment=observed.canary_deployment,
            annotations=observed.annotations,
            measurement=observed.measurement,
            http_route=observed.http_route,
        ),
        now,
        ServingSettings(default_image=observed.settings.server_image),
    )
    status = observed.status
    patch = dict(serving.status_patch)
    patch.update(_replaced("training", status, training.training_status))
    if drift is not None:
        patch.update(drift_status_patch(status, patch, drift, training, now))
    patch.update(_replaced("optimize", status, optimization.optimize_status))
    # Services first, then the rest: see `Plan.services` and `Plan.workloads`.
    served = [o for o in serving.objects if o["kind"] == "Service"]
    served += [o for o in serving.objects if o["kind"] != "Service"]
    return Plan(
        objects=(*training.objects, *optimization.objects, *served),
        deletions=_deletions(observed, training, optimization),
        route_patch=serving.route_patch,
        status=serving.status,
        status_patch=patch,
        events=(
            *training.events,
            *optimization.events,
            *serving.events,
            *(drift.events if drift is not None else ()),
        ),
        requeue_after=_requeue_after(observed, serving.status, training, now),
        route_wanted=observed.http_route is None and route_wanted(observed.spec, serving.status),
    )


def _training(
    observed: Observation,
    serving_now: int | None,
    drift: DriftAssessment | None,
    now: datetime,
) -> TrainingPlan:
    spec = observed.spec
    if isinstance(spec, SpecError) or spec.training is None:
        return TrainingPlan((), None, (), active=False)
    status = observed.status
    plan = plan_training(
        observed.owner,
        spec,
        # A training run must not take the number an optimization run is about to publish.
        reserving_versions(observed.artifacts, status.get("optimize")),
        observed.training_jobs,
        observed.training_pods,
        status.get("training"),
        created=observed.created,
        now=now,
        settings=TrainingSettings(default_image=observed.settings.trainer_image),
        retrain=observed.annotations.get(RETRAIN_ANNOTATION),
        current_version=serving_now,
        drift=drift.retrain if drift is not None else None,
    )
    refusal = observed.refused.get(TRAINING)
    if refusal is not None and plan.objects:
        plan = refused_run(plan, refusal)
    return plan


def _optimization(
    observed: Observation,
    training: TrainingPlan,
    serving_now: int | None,
    now: datetime,
) -> OptimizationPlan:
    spec = observed.spec
    if isinstance(spec, SpecError) or spec.optimize is None:
        return NOTHING
    status = observed.status
    training_status = training.training_status or status.get("training") or {}
    plan = plan_optimization(
        observed.owner,
        spec,
        observed.artifacts,
        observed.optimization_jobs,
        observed.optimization_pods,
        status.get("optimize"),
        now=now,
        settings=TrainingSettings(default_image=observed.settings.trainer_image),
        training_active=training.active,
        training_version=training_status.get("version"),
        current_version=serving_now,
    )
    refusal = observed.refused.get(OPTIMIZATION)
    if refusal is not None and plan.objects:
        plan = refused_optimization(plan, refusal)
    return plan


def _replaced(
    key: str, status: Mapping[str, Any], wanted: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The merge patch that sets status[key] to `wanted` (None: leave it as it is); a merge
    patch merges nested objects, so the old keys that are gone are named as null."""
    previous = status.get(key)
    if wanted is None or wanted == previous:
        return {}
    return {key: {**{name: None for name in previous or {}}, **wanted}}


def drift_status_patch(
    status: Mapping[str, Any],
    patch: Mapping[str, Any],
    drift: DriftAssessment,
    training: TrainingPlan,
    now: datetime,
) -> dict[str, Any]:
    """status.monitoring and the DataDrift condition after a drift check, as a merge patch
    on top of `patch` (the rest of this pass's status changes)."""
    monitoring = drift.status
    started = training.training_status or {}
    if training.objects and started.get("reason") == DRIFT_DETECTED:
        monitoring = retrain_started(monitoring, now)  # the cooldown counts from now
    changes = _replaced("monitoring", status, monitoring)
    conditions = list(patch.get("conditions") or status.get("conditions") or [])
    updated = set_condition(conditions, drift.condition, rfc3339(now))
    if updated != list(status.get("conditions") or []):
        changes["conditions"] = updated
    return changes


def _deletions(
    observed: Observation, training: TrainingPlan, optimization: OptimizationPlan
) -> tuple[Deletion, ...]:
    deletions = []
    for job in training.stale_jobs:
        deletions.append(Deletion("batch/v1", "Job", job))
        # A multi-worker run's headless Service has the Job's name; only ours is deleted (a
        # ModelDeployment named like the Job would own a serving Service of that name).
        service = observed.services.get(job)
        if service is not None and is_training_service(service, observed.owner):
            deletions.append(Deletion("v1", "Service", job))
    deletions.extend(Deletion("batch/v1", "Job", job) for job in optimization.stale_jobs)
    return tuple(deletions)


def _requeue_after(
    observed: Observation, status: Mapping[str, Any], training: TrainingPlan, now: datetime
) -> float:
    if converges(status):
        if rollout_in_flight(status) or observed.next_measurement is not None:
            return observed.settings.converge_interval
        # What it waits for (the Deployment, its pods, a run's Job) wakes the loop when it
        # changes; at 1,000 rolling at once, a pass every 2 s each was most of the
        # operator's work and delayed the rollouts it watched.
        delay = min(observed.poll_interval, observed.settings.event_recheck)
        delay = max(observed.settings.converge_interval, delay)
    else:
        delay = observed.poll_interval
    if training.next_check is not None:
        delay = max(1.0, min(delay, (training.next_check - now).total_seconds()))
    if observed.next_measurement is not None:
        delay = max(0.5, min(delay, (observed.next_measurement - now).total_seconds()))
    return delay


def rollout_in_flight(status: Mapping[str, Any]) -> bool:
    """A canary or blue-green rollout between its start and its end: its steps, pauses and
    analysis move on the clock, not only on events."""
    phase = (status.get("rollout") or {}).get("phase")
    return phase in (RolloutPhase.PROGRESSING.value, RolloutPhase.PROMOTING.value)


def converges(status: Mapping[str, Any]) -> bool:
    """Reconciling and not waiting for a person: the next pass comes before the next poll."""
    return is_converging(status) and not waits_for_a_person(status)


def is_converging(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Reconciling" and c.get("status") == "True"
        for c in status.get("conditions", [])
    )


def waits_for_a_person(status: Mapping[str, Any]) -> bool:
    """A canary paused until promoted: nothing changes by itself (the promote and abort
    annotations and the pods' changes wake the loop), so it is polled like a steady one."""
    return (status.get("rollout") or {}).get("phase") == "Paused"


def wants_attention(obj: Mapping[str, Any]) -> bool:
    """A spec change, or a new value of the retrain, promote or abort annotation: worth a
    pass at once instead of at the next poll."""
    meta = obj.get("metadata", {})
    status = obj.get("status") or {}
    annotations = meta.get("annotations") or {}
    retrain = annotations.get(RETRAIN_ANNOTATION)
    retrain_seen = (status.get("training") or {}).get("retrain")
    rollout = status.get("rollout") or {}
    requested = any(
        annotations.get(key) is not None and annotations.get(key) != rollout.get(seen)
        for key, seen in ((PROMOTE_ANNOTATION, "promoteSeen"), (ABORT_ANNOTATION, "abortSeen"))
    )
    return (
        meta.get("generation") != status.get("observedGeneration")
        or (retrain is not None and retrain != retrain_seen)
        or (requested and bool(rollout))
    )
