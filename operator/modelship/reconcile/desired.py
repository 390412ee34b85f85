"""One serving reconcile as a pure function: from what the controller observed (the spec,
the store's listing, the serving Deployment and its pods, the previous status, the clock) to
what it must do (the objects to apply, the status patch, the Events to post).

`reconcile.modeldeployment.plan_model_deployment` calls `plan_serving` after the training and
optimization parts (it is told whether a run is making a version) and merges its objects,
status patch and Events into the pass's one plan. Running it again on the same observation
gives the same plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelship.api import ModelDeploymentSpec, SpecError
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.analysis import Measurement
from modelship.reconcile.deployment import (
    ServingSettings,
    canary_deployment,
    deployed_version,
    serving_deployment,
)
from modelship.reconcile.findings import Finding
from modelship.reconcile.health import ServingHealth, assess_serving
from modelship.reconcile.owner import Owner
from modelship.reconcile.rollout import (
    PodCounts,
    RolloutObservation,
    RolloutPlan,
    is_canary_pod,
    mark_rejected,
    plan_blue_green,
    plan_rollout,
    rejected_numbers,
    rejected_pin,
    without_canary,
    without_rejected,
)
from modelship.reconcile.service import preview_service, serving_service, version_service
from modelship.reconcile.status import (
    Event,
    compute_status,
    status_patch,
    target_choice,
    transition_events,
)
from modelship.reconcile.traffic import (
    RoutePatch,
    canary_service_name,
    canary_weight,
    route_problem,
    service_versions,
    stable_service_name,
    uses_gateway,
    weight_patch,
    written_weights,
)
from modelship.reconcile.versions import TargetChoice, TargetVersion, recent_versions


@dataclass(frozen=True)
class ServingObservation:
    """What the controller gathered for one ModelDeployment."""

    spec: ModelDeploymentSpec | SpecError
    """`parse_spec(body["spec"], name=metadata.name)`, or the SpecError it raised."""
    generation: int
    """metadata.generation."""
    artifacts: Sequence[VersionInfo] | ArtifactError
    """`ArtifactStore.list_versions()`, or the ArtifactError raised while getting it
    (`storage_settings` for the Secret, `parse_storage_uri`, the listing). Ignored with a
    SpecError (pass ())."""
    deployment: Mapping[str, Any] | None
    """The Deployment `<md>-serving`, None when it does not exist."""
    pods: Sequence[Mapping[str, Any]]
    """Pods in the namespace matching the serving selector labels
    (app.kubernetes.io/name=modelship, instance=<md>, component=serving)."""
    status: Mapping[str, Any] = field(default_factory=dict)
    """The ModelDeployment's current status."""
    training: bool = False
    """A training run is making a version (shown as phase Training while nothing serves)."""
    training_failure: Finding | None = None
    """The last training run failed and will not be retried by itself (`TrainingPlan.failure`)."""
    canary_deployment: Mapping[str, Any] | None = None
    """The Deployment `<md>-canary` (spec.rollout.strategy Canary), None when it does not exist."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """The ModelDeployment's annotations (modelship.io/promote and modelship.io/abort)."""
    measurement: Measurement | None = None
    """The canary's last interval, when the controller measured one in this pass
    (spec.rollout.analysis)."""
    http_route: Mapping[str, Any] | Finding | None = None
    """spec.rollout.traffic GatewayAPI: the HTTPRoute as read, or why it could not be read
    (`traffic.route_not_found`, `traffic.route_forbidden`); None when it was not read in this
    pass (`traffic.route_wanted` says when it must be)."""


@dataclass(frozen=True)
class ServingPlan:
    """What the controller must do."""

    objects: tuple[dict[str, Any], ...]
    """To server-side apply, in order (the Service, then the Deployment when a version can
    be served). Objects not listed are left as they are, never deleted: while no version can
    be served, the pods already serving keep serving."""
    status: dict[str, Any]
    """The owned status fields as they should be."""
    status_patch: dict[str, Any]
    """A merge patch for the status subresource; empty when nothing changed."""
    events: tuple[Event, ...]
    """Events to post on the ModelDeployment."""
    route_patch: RoutePatch | None = None
    """The weights to write on the HTTPRoute: after the Services in `objects` (a Service's
    new selector first), before the Deployments (traffic leaves pods before they go)."""


def desired_serving(
    owner: Owner,
    spec: ModelDeploymentSpec | SpecError,
    target: TargetVersion | None,
    settings: ServingSettings | None = None,
) -> list[dict[str, Any]]:
    """The objects serving needs: nothing for an unusable spec (what runs keeps running),
    the Service always otherwise, and the Deployment once a version can be served."""
    if isinstance(spec, SpecError):
        return []
    objects = [serving_service(owner, spec)]
    if target is not None:
        objects.append(serving_deployment(owner, spec, target, settings))
    return objects


def plan_serving(
    owner: Owner,
    observed: ServingObservation,
    now: datetime,
    settings: ServingSettings | None = None,
) -> ServingPlan:
    """Decide one reconcile: choose the target, build the objects, read the pods' health
    against that target, and compute the status and Events."""
    spec = observed.spec
    deployed = deployed_version(observed.deployment)
    previous_rollout = observed.status.get("rollout") or {}
    artifacts = observed.artifacts
    rollout: RolloutPlan | None = None
    choice: TargetChoice | None = None
    traffic_problem = None
    if uses_gateway(spec):
        traffic_problem = route_problem(observed.http_route, owner.name)
    if isinstance(spec, SpecError):
        target: TargetVersion | None = None
        # `is None`, not `or`: version 0 is a version (TF Serving's layout allows it).
        health_target = _int(observed.status.get("targetVersion"))
        if health_target is None and deployed is not None:
            health_target = deployed.number
    else:
        artifacts = _eligible(observed, spec, previous_rollout)
        choice = target_choice(spec, artifacts, deployed, observed.status)
        target, health_target = choice.deploy, choice.number
        if spec.rollout.strategy in ("Canary", "BlueGreen"):
            policy = plan_rollout if spec.rollout.strategy == "Canary" else plan_blue_green
            rollout = policy(
                _rollout_observation(owner, observed, spec, deployed, target, now, traffic_problem),
                now,
            )
            if rollout.rejected_now is not None:
                # Rolled back in this pass: the version is no longer a candidate.
                artifacts = _eligible(observed, spec, rollout.status or {})
                choice = target_choice(spec, artifacts, deployed, observed.status)
                health_target = choice.number
    health = assess_serving(observed.deployment, observed.pods, health_target, now)
    if rollout is not None or previous_rollout:
        health = _without_canary_problems(health, rollout, observed, spec)
    status = compute_status(
        owner,
        spec,
        observed.generation,
        artifacts,
        health,
        observed.status,
        now,
        training=observed.training,
        training_failure=observed.training_failure,
        progress=rollout.progress if rollout is not None else None,
        rejected_pin=_rejected_pin(observed, spec, rollout, previous_rollout),
        traffic_problem=traffic_problem,
        chosen=choice,
    )
    if rollout is not None:
        rollout_status = rollout.status
    elif isinstance(spec, SpecError):
        rollout_status = previous_rollout or None
    else:
        rollout_status = without_canary(previous_rollout, spec.rollout.strategy)
    route_patch = None
    if rollout is not None and not isinstance(spec, SpecError) and uses_gateway(spec):
        rollout_status, route_patch = _route_weights(owner, observed, spec, rollout_status)
    if rollout_status:
        status["rollout"] = rollout_status
        if rollout_status.get("rejected") and not isinstance(observed.artifacts, ArtifactError):
            status["versions"] = mark_rejected(recent_versions(observed.artifacts), rollout_status)
    if rollout is not None and not isinstance(spec, SpecError):
        objects = _canary_objects(owner, spec, rollout, settings)
        if uses_gateway(spec):
            stable_version, canary_version = service_versions(rollout_status or {}, rollout.stable)
            objects[1:1] = [
                version_service(owner, spec, stable_service_name(owner.name), stable_version),
                version_service(owner, spec, canary_service_name(owner.name), canary_version),
            ]
    else:
        objects = desired_serving(owner, spec, target, settings)
        if not isinstance(spec, SpecError) and observed.canary_deployment is not None:
            objects.extend(_idle_canary(owner, spec, observed.canary_deployment, settings))
    events = [*transition_events(observed.status, status)]
    if rollout is not None:
        events.extend(rollout.events)
    return ServingPlan(
        objects=tuple(objects),
        status=status,
        status_patch=status_patch(observed.status, status),
        events=tuple(events),
        route_patch=route_patch,
    )


def _route_weights(
    owner: Owner,
    observed: ServingObservation,
    spec: ModelDeploymentSpec,
    rollout_status: Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, RoutePatch | None]:
    """status.rollout with the route's weight, and the patch that sets it when the route was
    read and differs. `weight` is what the route says (or will, once patched); the replica
    share no longer is the traffic share."""
    status = dict(rollout_status or {})
    route_ref = spec.rollout.http_route
    assert route_ref is not None
    wanted = canary_weight(status, spec.rollout.steps)
    route = observed.http_route
    patch = None
    if isinstance(route, Mapping):
        operations = weight_patch(route, owner.name, wanted)
        if not isinstance(operations, Finding):
            if operations:
                patch = RoutePatch(route_ref.name, operations)
            status["httpRoute"] = written_weights(route_ref.name, wanted)
    written = status.get("httpRoute") or {}
    if written.get("name") == route_ref.name and _int(written.get("canaryWeight")) is not None:
        status["weight"] = _int(written.get("canaryWeight"))
    else:
        status["weight"] = 0
    return status, patch


def _eligible(
    observed: ServingObservation, spec: ModelDeploymentSpec, rollout: Mapping[str, Any]
) -> Sequence[VersionInfo] | ArtifactError:
    """The store's listing without the versions a canary rollback rejected."""
    rejected = rejected_numbers(rollout, spec.model.version, observed.generation)
    if isinstance(observed.artifacts, ArtifactError) or not rejected:
        return observed.artifacts
    return without_rejected(observed.artifacts, rejected)


def _rejected_pin(
    observed: ServingObservation,
    spec: ModelDeploymentSpec | SpecError,
    rollout: RolloutPlan | None,
    previous_rollout: Mapping[str, Any],
) -> Finding | None:
    if isinstance(spec, SpecError) or spec.model.version is None:
        return None
    status = (rollout.status if rollout is not None else None) or previous_rollout
    if spec.model.version not in rejected_numbers(status, spec.model.version, observed.generation):
        return None
    current = _int(observed.status.get("currentVersion"))
    return rejected_pin(status, spec.model.version, current)


def _rollout_observation(
    owner: Owner,
    observed: ServingObservation,
    spec: ModelDeploymentSpec,
    deployed: TargetVersion | None,
    target: TargetVersion | None,
    now: datetime,
    traffic_problem: Finding | None = None,
) -> RolloutObservation:
    canary_pods = [p for p in observed.pods if is_canary_pod(p)]
    stable_pods = [p for p in observed.pods if not is_canary_pod(p)]
    canary_deployed = deployed_version(observed.canary_deployment)
    problem = waiting = None
    if target is not None:
        canary_health = assess_serving(observed.canary_deployment, canary_pods, target.number, now)
        problem = next(
            (p for p in canary_health.problems if p.needs_person and p.version == target.number),
            None,
        )
        waiting = next(
            (p for p in canary_health.problems if p.version == target.number),
            None,
        )
    return RolloutObservation(
        rollout=spec.rollout,
        replicas=spec.serving.replicas,
        progress_deadline=spec.rollout.progress_deadline or spec.serving.progress_deadline,
        stable=deployed,
        # While the store cannot be read the target is only what is deployed: unknown.
        target=None if isinstance(observed.artifacts, ArtifactError) else target,
        stable_pods=_held(PodCounts.of(stable_pods), observed.deployment),
        canary_pods=_held(PodCounts.of(canary_pods), observed.canary_deployment),
        canary_problem=problem,
        previous=observed.status.get("rollout") or {},
        annotations=observed.annotations,
        generation=observed.generation,
        canary_exists=observed.canary_deployment is not None,
        canary_deployed=canary_deployed,
        measurement=observed.measurement,
        service_name=owner.name,
        canary_waiting=waiting,
        traffic_problem=traffic_problem,
    )


def _held(pods: PodCounts, deployment: Mapping[str, Any] | None) -> PodCounts:
    """The pods a Deployment may hold: those seen, or as many as its spec.replicas allows when
    more (pods it is creating may not have reached the cache yet, and the budget must count
    them before the other Deployment grows)."""
    spec = (deployment or {}).get("spec") or {}
    allowed = _int(spec.get("replicas")) or 0
    return dataclasses.replace(pods, existing=max(pods.existing, allowed))


def _without_canary_problems(
    health: ServingHealth,
    rollout: RolloutPlan | None,
    observed: ServingObservation,
    spec: ModelDeploymentSpec | SpecError,
) -> ServingHealth:
    """The canary's own problems are the rollout's to act on (a rollback, said in
    status.rollout and a RolledBack Event), and a rejected version's leaving pods are no
    longer anyone's problem: neither stalls the ModelDeployment while the stable version
    serves."""
    rollout_status = (rollout.status if rollout is not None else None) or {}
    ignored = {_int(entry.get("number")) for entry in rollout_status.get("rejected") or []}
    stable = rollout.stable if rollout is not None else deployed_version(observed.deployment)
    canary = _int(rollout_status.get("canaryVersion"))
    if canary is not None and (stable is None or stable.number != canary):
        ignored.add(canary)
    if stable is not None:
        ignored.discard(stable.number)
    kept = tuple(p for p in health.problems if p.version is None or p.version not in ignored)
    return dataclasses.replace(health, problems=kept)


def _canary_objects(
    owner: Owner,
    spec: ModelDeploymentSpec,
    rollout: RolloutPlan,
    settings: ServingSettings | None,
) -> list[dict[str, Any]]:
    objects = [serving_service(owner, spec, rollout.service_version)]
    if spec.rollout.strategy == "BlueGreen":
        objects.append(preview_service(owner, spec))
    if rollout.stable is not None:
        objects.append(
            serving_deployment(
                owner, spec, rollout.stable, settings, replicas=rollout.stable_replicas
            )
        )
    if rollout.canary is not None:
        objects.append(
            canary_deployment(owner, spec, rollout.canary, rollout.canary_replicas, settings)
        )
    return objects


def _idle_canary(
    owner: Owner,
    spec: ModelDeploymentSpec,
    observed: Mapping[str, Any],
    settings: ServingSettings | None,
) -> list[dict[str, Any]]:
    """A canary Deployment left from spec.rollout.strategy Canary: kept at 0 replicas."""
    version = deployed_version(observed)
    if version is None:
        return []
    return [canary_deployment(owner, spec, version, 0, settings)]


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None
