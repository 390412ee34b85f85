"""One serving reconcile as a pure function: from what the controller observed (the spec,
the store's listing, the serving Deployment and its pods, the previous status, the clock) to
what it must do (the objects to apply, the status patch, the Events to post).

The controller gathers, calls `plan_serving`, applies `objects` with server-side apply (field
manager "modelship"), patches the status with `status_patch` when it is not empty, and posts
`events`. Running it again on the same observation gives the same plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelship.api import ModelDeploymentSpec, SpecError
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.deployment import ServingSettings, deployed_version, serving_deployment
from modelship.reconcile.findings import Finding
from modelship.reconcile.health import assess_serving
from modelship.reconcile.owner import Owner
from modelship.reconcile.service import serving_service
from modelship.reconcile.status import (
    Event,
    compute_status,
    status_patch,
    target_choice,
    transition_events,
)
from modelship.reconcile.versions import TargetVersion


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
    if isinstance(spec, SpecError):
        target: TargetVersion | None = None
        # `is None`, not `or`: version 0 is a version (TF Serving's layout allows it).
        health_target = _int(observed.status.get("targetVersion"))
        if health_target is None and deployed is not None:
            health_target = deployed.number
    else:
        choice = target_choice(spec, observed.artifacts, deployed, observed.status)
        target, health_target = choice.deploy, choice.number
    health = assess_serving(observed.deployment, observed.pods, health_target, now)
    status = compute_status(
        owner,
        spec,
        observed.generation,
        observed.artifacts,
        health,
        observed.status,
        now,
        training=observed.training,
        training_failure=observed.training_failure,
    )
    return ServingPlan(
        objects=tuple(desired_serving(owner, spec, target, settings)),
        status=status,
        status_patch=status_patch(observed.status, status),
        events=tuple(transition_events(observed.status, status)),
    )


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None
