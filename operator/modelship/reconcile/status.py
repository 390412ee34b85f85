"""The ModelDeployment's status, computed from what was observed — never from what the
operator hoped would happen — plus whether it changed and which Events a change deserves.

The conditions follow the Kubernetes API conventions and kstatus:
- Ready: the current version serves with the wanted replicas and nothing is in flight.
- Reconciling: converging (a rollout, a scale, waiting for pods, for a version's upload).
- Stalled: a person must act (bad spec, missing Secret, no such version, corrupt artifact,
  pods unschedulable past the progress deadline, a crash-looping version).
- ArtifactReady: the target version was found and verified.
At most one of Ready, Reconciling and Stalled is True.

The phase is a one-word summary: Pending (nothing to serve yet), Training (idem, while a
training run makes the first version), Deploying (converging), Ready, Degraded (serving, but
something needs attention: a failing new version, an unreadable store, a corrupt newer
version), Failed (nothing serves and a person must act).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from modelship.api import (
    ARTIFACT_READY,
    READY,
    RECONCILING,
    STALLED,
    Condition,
    ModelDeploymentSpec,
    Phase,
    SpecError,
    set_condition,
)
from modelship.api.reasons import (
    PROGRESSING,
    ROLLED_OUT,
    ROLLING_OUT,
    WAITING_FOR_REPLICAS,
)
from modelship.api.reasons import (
    SERVING as SERVING_REASON,
)
from modelship.api.timestamps import rfc3339
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.findings import Finding, sentence_start
from modelship.reconcile.health import ServingHealth
from modelship.reconcile.owner import SERVING, Owner, label_selector, selector_labels
from modelship.reconcile.service import serving_endpoint, serving_grpc_endpoint
from modelship.reconcile.versions import (
    NO_VERSIONS,
    VERIFIED,
    TargetChoice,
    TargetVersion,
    choose_target,
)

# The status fields this module owns; others (status.training) belong to other code and are
# never touched by `status_patch`.
OWNED_FIELDS: Final = (
    "observedGeneration",
    "phase",
    "currentVersion",
    "currentDigest",
    "targetVersion",
    "replicas",
    "readyReplicas",
    "selector",
    "endpoint",
    "grpcEndpoint",
    "model",
    "versions",
    "conditions",
    "rollout",
)
# Reasons that describe normal progress; every other reason a condition shows is a problem
# worth a Warning Event when it first appears.
_PROGRESS_REASONS: Final = frozenset(
    {SERVING_REASON, VERIFIED, ROLLING_OUT, WAITING_FOR_REPLICAS, PROGRESSING, NO_VERSIONS}
)


class Event(NamedTuple):
    """A Kubernetes Event for the controller to post on the ModelDeployment."""

    type: str  # "Normal" or "Warning"
    reason: str
    message: str


def target_choice(
    spec: ModelDeploymentSpec,
    artifacts: Sequence[VersionInfo] | ArtifactError,
    deployed: TargetVersion | None,
    previous: Mapping[str, Any] | None,
) -> TargetChoice:
    """`choose_target` fed from what the serving Deployment runs and the previous status."""
    return choose_target(
        spec,
        artifacts,
        deployed=deployed,
        current_version=_int((previous or {}).get("currentVersion")),
    )


def compute_status(
    owner: Owner,
    spec: ModelDeploymentSpec | SpecError,
    generation: int,
    artifacts: Sequence[VersionInfo] | ArtifactError,
    health: ServingHealth,
    previous: Mapping[str, Any] | None,
    now: datetime,
    *,
    training: bool = False,
    training_failure: Finding | None = None,
    progress: Finding | None = None,
    rejected_pin: Finding | None = None,
    traffic_problem: Finding | None = None,
    chosen: TargetChoice | None = None,
) -> dict[str, Any]:
    """The status fields this module owns (`OWNED_FIELDS`), as they should be now.

    `artifacts` is the store's listing, or the ArtifactError that kept it from being read
    (ignored when the spec is a SpecError). `health` must come from `assess_serving` with the
    same target this function chooses (`plan_serving` does both); when the store cannot be
    read, the version the Deployment runs (from `health`) stays the target. `training` says
    a training run is making a version, which shows while nothing serves;
    `training_failure`, that the last run failed and nothing will retry it; `progress`, what a
    canary rollout in flight is doing (said instead of the rolling update's progress);
    `rejected_pin`, why the pinned version (left out of `artifacts`) is not served;
    `traffic_problem`, why the HTTPRoute's weights cannot be written (spec.rollout.traffic
    GatewayAPI): a person must act while the stable version serves. `chosen`: the target
    `plan_serving` chose from the same listing, deployment and status (`target_choice`), so
    the version is chosen once per pass; chosen here when not given.
    """
    previous = previous or {}
    previous_current = _int(previous.get("currentVersion"))

    choice: TargetChoice | None = None
    findings: list[Finding] = []
    if isinstance(spec, SpecError):
        findings.append(Finding(spec.reason, f"{spec.field}: {spec.message}"))
        target_number = _int(previous.get("targetVersion"))
        if target_number is None:  # not `or`: version 0 is a version
            target_number = health.template_version
        endpoint = previous.get("endpoint")
        grpc_endpoint = previous.get("grpcEndpoint")
        model_name = previous.get("model")
        wanted = health.wanted_replicas
    else:
        choice = (
            chosen
            if chosen is not None
            else target_choice(spec, artifacts, _deployed(health), previous)
        )
        if rejected_pin is not None and choice.deploy is None:
            # The pinned version is left out of `artifacts` because a canary of it was rolled
            # back: say so, rather than that it does not exist.
            choice = dataclasses.replace(choice, blocking=rejected_pin, artifact=rejected_pin)
        if choice.blocking is not None:
            findings.append(
                _nothing_to_serve_yet(choice.blocking, spec, artifacts, training, training_failure)
            )
        target_number = choice.number
        endpoint = serving_endpoint(owner, spec)
        grpc_endpoint = serving_grpc_endpoint(owner, spec)
        model_name = spec.model.name
        wanted = spec.serving.replicas
    current = _current_version(health, target_number, previous_current)
    findings.extend(_while_serving(problem, current) for problem in health.problems)
    if traffic_problem is not None:
        findings.append(traffic_problem)
    stalled = next((f for f in findings if f.needs_person), None)
    in_place = (
        target_number is not None
        and health.rolled_out
        and health.wanted_replicas == wanted
        and (
            choice is None
            or choice.deploy is None
            or choice.deploy.digest == health.template_digest
        )
    )
    ready = in_place and stalled is None
    advisory = choice.advisory if choice is not None else None

    if ready:
        assert target_number is not None
        serving_message = (
            f"version {target_number} is scaled to 0 replicas."
            if wanted == 0
            else f"version {target_number} serves with {health.ready_replicas} of {wanted} "
            f"replicas ready at {endpoint}."
        )
        if advisory is not None:
            # Ready, but a newer version is held back (gate, corruption): say which and why,
            # so phase Degraded is explained where people look.
            serving_message += f" {sentence_start(advisory.message)}"
        headline = Finding(SERVING_REASON, serving_message, needs_person=False)
    elif stalled is not None:
        headline = stalled
    else:
        headline = (
            next(iter(findings), None)
            or progress
            or _progress(health, target_number, current, wanted)
        )

    phase = _phase(
        stalled=stalled is not None,
        ready=ready,
        advisory=advisory is not None,
        has_target=target_number is not None,
        serving=health.ready_replicas > 0,
        training=training,
    )
    quiet = Finding(
        SERVING_REASON if ready else PROGRESSING,
        "nothing needs a person's attention.",
        needs_person=False,
    )
    if choice is not None:
        artifact_status, artifact = choice.artifact_status, choice.artifact
    else:
        artifact_status = "Unknown"
        artifact = Finding(headline.reason, "no version is chosen while the spec is invalid.")

    generation_conditions = [
        (READY, "True" if ready else "False", headline),
        (RECONCILING, "True" if not ready and stalled is None else "False", headline),
        (STALLED, "True" if stalled is not None else "False", stalled or quiet),
        (ARTIFACT_READY, artifact_status, artifact),
    ]
    # Conditions of other types (set by other parts of the operator) are kept as they are.
    conditions: list[dict[str, Any]] = [dict(c) for c in previous.get("conditions") or []]
    for type_, value, finding in generation_conditions:
        conditions = set_condition(
            conditions,
            Condition(
                type=type_,
                status=value,
                reason=finding.reason,
                message=finding.message,
                observed_generation=generation,
            ),
            rfc3339(now),
        )
    conditions.sort(key=_condition_order)

    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase.value,
        "replicas": health.replicas,
        "readyReplicas": health.ready_replicas,
        "selector": label_selector(selector_labels(owner, SERVING)),
        "conditions": conditions,
    }
    if current is not None:
        status["currentVersion"] = current
        digest = _current_digest(current, health, choice, previous)
        if digest:
            status["currentDigest"] = digest
    if target_number is not None:
        status["targetVersion"] = target_number
    if endpoint:
        status["endpoint"] = endpoint
    if grpc_endpoint:
        status["grpcEndpoint"] = grpc_endpoint
    if model_name:
        status["model"] = model_name
    versions = choice.versions if choice is not None else None
    if versions is None:
        versions = previous.get("versions")
    if versions:
        status["versions"] = versions
    return status


_OWN_CONDITIONS: Final = (READY, RECONCILING, STALLED, ARTIFACT_READY)


def _condition_order(condition: Mapping[str, Any]) -> int:
    kind = condition.get("type")
    return _OWN_CONDITIONS.index(kind) if kind in _OWN_CONDITIONS else len(_OWN_CONDITIONS)


def _phase(
    *, stalled: bool, ready: bool, advisory: bool, has_target: bool, serving: bool, training: bool
) -> Phase:
    """The one-word summary; see the module's docstring."""
    if stalled:
        return Phase.DEGRADED if serving else Phase.FAILED
    if ready:
        return Phase.DEGRADED if advisory else Phase.READY
    if not has_target:
        if serving:
            return Phase.DEGRADED
        return Phase.TRAINING if training else Phase.PENDING
    return Phase.DEPLOYING


def _nothing_to_serve_yet(
    blocking: Finding,
    spec: ModelDeploymentSpec,
    artifacts: Sequence[VersionInfo] | ArtifactError,
    training: bool,
    training_failure: Finding | None,
) -> Finding:
    """With no version at all, whether waiting can help: a running training run or an upload
    in progress will make one; a failed run will not (its failure is the reason); without
    training, only a person publishing a version will."""
    uploading = not isinstance(artifacts, ArtifactError) and any(
        v.state == "incomplete" for v in artifacts
    )
    if blocking.reason != NO_VERSIONS or training or uploading:
        return blocking
    if training_failure is not None:
        return training_failure
    if spec.training is None:
        return dataclasses.replace(blocking, needs_person=True)
    return blocking


def _while_serving(problem: Finding, current: int | None) -> Finding:
    """A problem of another version's pods says which version keeps the traffic meanwhile."""
    if current is None or problem.version in (None, current):
        return problem
    message = f"{problem.message} Version {current} keeps serving."
    return dataclasses.replace(problem, message=message)


def _deployed(health: ServingHealth) -> TargetVersion | None:
    if health.template_version is None or not health.template_digest:
        return None
    return TargetVersion(health.template_version, health.template_digest)


def _current_version(
    health: ServingHealth, target: int | None, previous_current: int | None
) -> int | None:
    """The version whose ready pods take the traffic. While two versions do (a rollout),
    it stays the one that served before, until the old pods are gone."""
    serving = health.serving_versions
    if len(serving) == 1:
        return serving[0]
    if serving:
        if previous_current in serving:
            return previous_current
        return max(serving, key=lambda v: (health.ready_by_version.get(v, 0), v))
    if target is not None and health.rolled_out and health.wanted_replicas == 0:
        return target  # scaled to zero on purpose: that version is still the one in place
    return None


def _current_digest(
    current: int,
    health: ServingHealth,
    choice: TargetChoice | None,
    previous: Mapping[str, Any],
) -> str | None:
    if current in health.digests:
        return health.digests[current]
    if choice is not None and choice.deploy is not None and choice.deploy.number == current:
        return choice.deploy.digest
    if _int(previous.get("currentVersion")) == current:
        digest = previous.get("currentDigest")
        return str(digest) if digest else None
    return None


def _progress(
    health: ServingHealth, target: int | None, current: int | None, wanted: int
) -> Finding:
    """Why it is not Ready when nothing is wrong: it is on its way."""
    if target is None:
        return Finding(PROGRESSING, "choosing a version to serve.", needs_person=False)
    ready = health.ready_by_version.get(target, 0)
    if current is not None and current != target:
        return Finding(
            ROLLING_OUT,
            f"rolling out version {target}: {ready} of {wanted} replicas ready; version "
            f"{current} keeps serving until then.",
            needs_person=False,
        )
    if current is None:
        return Finding(
            ROLLING_OUT,
            f"deploying version {target}: {ready} of {wanted} replicas ready.",
            needs_person=False,
        )
    return Finding(
        WAITING_FOR_REPLICAS,
        f"{ready} of {wanted} replicas of version {target} are ready.",
        needs_person=False,
    )


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether the owned status fields differ (the status is written only then)."""
    return bool(status_patch(old, new))


def status_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch for the status subresource turning `old` into `new` on the owned
    fields: changed fields with their new value, dropped ones as None (JSON null deletes).
    Empty when nothing changed."""
    old = old or {}
    patch: dict[str, Any] = {}
    for key in OWNED_FIELDS:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            # A merge patch merges objects: the keys that are gone are named as null.
            after = {**{name: None for name in before if name not in after}, **after}
        patch[key] = after
    return patch


PROGRESS_FIELDS: Final = frozenset({"replicas", "readyReplicas", "conditions"})
"""What a rolling update's progress changes: the replica counts and the conditions' words."""


def only_progress(old: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> bool:
    """Whether a status patch says nothing new but how far a rollout has got: replica counts,
    and conditions whose message alone changed ("2 of 4 replicas ready") while their status,
    reason and generation stay. Such a write may wait a few seconds and be folded into the
    next one; any other change (a phase, a version, a problem, a condition's status) may not."""
    if not patch or not set(patch) <= PROGRESS_FIELDS:
        return False
    if "conditions" not in patch:
        return True
    before = list((old or {}).get("conditions") or [])
    after = list(patch["conditions"] or [])
    if len(before) != len(after):
        return False
    return all(
        {**was, "message": None} == {**now, "message": None}
        for was, now in zip(before, after, strict=True)
    )


def transition_events(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Event]:
    """The Events a status change deserves: a version starting to roll out or to serve, and
    a Warning for each problem reason that was not there before."""
    old = old or {}
    events: list[Event] = []
    old_current, new_current = _int(old.get("currentVersion")), _int(new.get("currentVersion"))
    old_target, new_target = _int(old.get("targetVersion")), _int(new.get("targetVersion"))
    if new_target is not None and new_target not in (old_target, new_current) and _deployable(new):
        keeps = (
            f"; version {new_current} keeps serving until it is ready"
            if new_current is not None
            else ""
        )
        events.append(Event("Normal", ROLLING_OUT, f"rolling out version {new_target}{keeps}."))
    if new_current is not None and new_current != old_current:
        digest = f" ({new['currentDigest']})" if new.get("currentDigest") else ""
        if old_current is not None:
            events.append(
                Event(
                    "Normal",
                    ROLLED_OUT,
                    f"version {new_current}{digest} now serves traffic, replacing version "
                    f"{old_current}.",
                )
            )
        else:
            events.append(
                Event(
                    "Normal", SERVING_REASON, f"version {new_current}{digest} now serves traffic."
                )
            )
    before = _problems(old)
    for reason, message in _problems(new).items():
        if reason not in before:
            events.append(Event("Warning", reason, message))
    return events


def _deployable(status: Mapping[str, Any]) -> bool:
    """Whether the target version can be rolled out: no artifact problem is what keeps the
    ModelDeployment from being Ready (a corrupt *newer* version does not stop the target)."""
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    artifact, ready = conditions.get(ARTIFACT_READY) or {}, conditions.get(READY) or {}
    return artifact.get("status") == "True" or artifact.get("reason") != ready.get("reason")


def _problems(status: Mapping[str, Any]) -> dict[str, str]:
    """Problem reasons the conditions show, each with its first message."""
    abnormal = {READY: "False", RECONCILING: "True", STALLED: "True", ARTIFACT_READY: "False"}
    problems: dict[str, str] = {}
    for type_ in (STALLED, ARTIFACT_READY, RECONCILING, READY):
        for condition in status.get("conditions") or []:
            if condition.get("type") != type_:
                continue
            reason = str(condition.get("reason") or "")
            shows_problem = condition.get("status") == abnormal[type_] or (
                type_ == ARTIFACT_READY and condition.get("status") == "Unknown"
            )
            if shows_problem and reason and reason not in _PROGRESS_REASONS:
                problems.setdefault(reason, str(condition.get("message") or ""))
    return problems


def _int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None
