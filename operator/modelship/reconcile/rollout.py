"""The canary rollout policy (`spec.rollout.strategy: Canary`), as a pure function: from the
stable and canary Deployments' versions, their pods, the canary pods' health findings, the
analysis' latest measurement (judged by reconcile/analysis.py), the previous `status.rollout`,
the promote/abort annotations and the clock, to the version and replica count of each
Deployment, the new `status.rollout` and the Events.

With `spec.rollout.analysis`, failed measurements at `failureLimit` roll the canary back like
any other failure, and a step's pause ends only after a measurement taken since the step's
pods were Ready passed (an Inconclusive one, e.g. without traffic, holds the step).

Traffic is split by replicas: one Service selects the pods of both Deployments, so the
canary's share of traffic is its share of the ready pods. With `traffic: GatewayAPI` the
replica arithmetic is the same, and reconcile/traffic.py writes the step's exact weight on
the user's HTTPRoute; this policy only refuses to start (and holds a step) while the route
cannot take weights. Each step asks for
ceil(replicas * weight / 100) canary pods. With `gpuBudget: Fixed` the stable Deployment gives
up as many pods as the canary takes, and a side only grows once the other side's pods are
gone (a terminating pod still holds its GPU), so the serving pods never number more than
`spec.serving.replicas`. Promotion ends with the stable Deployment `<md>-serving` running the
new version on every replica and the canary `<md>-canary` at 0.

Everything the policy needs to remember (the step, when it started, the annotation values
already acted on, the rejected versions) is in `status.rollout`, so an operator restart
continues at the same step.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

from modelship.api import (
    RejectedVersion,
    RolloutPhase,
    RolloutSpec,
    RolloutStatus,
    to_resource_dict,
)
from modelship.api.reasons import (
    ABORTED,
    CANARY_STARTED,
    CANARY_STEP,
    PAUSING,
    PREVIEW_STARTED,
    PREVIEW_STARTING,
    PROGRESS_DEADLINE_EXCEEDED,
    PROMOTED,
    PROMOTING,
    ROLLED_BACK,
    SUPERSEDED,
    SWITCHED,
    VERSION_REJECTED,
    WAITING_FOR_ANALYSIS,
    WAITING_FOR_PROMOTION,
)
from modelship.api.timestamps import parse_timestamp, rfc3339
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.analysis import (
    Measurement,
    analysis_failure,
    fresh_analysis,
    next_analysis,
    passed_since,
)
from modelship.reconcile.findings import Finding
from modelship.reconcile.owner import CANARY_TRACK, LABEL_TRACK, LABEL_VERSION
from modelship.reconcile.status import ROLLING_OUT, Event
from modelship.reconcile.versions import TargetVersion

PROMOTE_ANNOTATION: Final = "modelship.io/promote"
ABORT_ANNOTATION: Final = "modelship.io/abort"

CANARY: Final = "Canary"
BLUE_GREEN: Final = "BlueGreen"
DEFAULT_SCALE_DOWN_DELAY: Final = 30.0
KEPT_REJECTIONS: Final = 10

_IN_FLIGHT: Final = frozenset(
    {RolloutPhase.PROGRESSING, RolloutPhase.PAUSED, RolloutPhase.PROMOTING}
)


@dataclass(frozen=True)
class PodCounts:
    """One Deployment's pods as the budget sees them."""

    existing: int = 0
    """Pods that have not finished, terminating ones included: each still holds its GPUs."""
    ready_by_version: Mapping[int, int] = field(default_factory=dict)

    def ready(self, version: int | None = None) -> int:
        if version is None:
            return sum(self.ready_by_version.values())
        return self.ready_by_version.get(version, 0)

    @classmethod
    def of(cls, pods: Sequence[Mapping[str, Any]]) -> PodCounts:
        existing = 0
        ready: dict[int, int] = {}
        for pod in pods:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            existing += 1
            meta = pod.get("metadata") or {}
            if meta.get("deletionTimestamp") or not _pod_ready(pod):
                continue
            number = _int((meta.get("labels") or {}).get(LABEL_VERSION))
            if number is not None:
                ready[number] = ready.get(number, 0) + 1
        return cls(existing, ready)


def is_canary_pod(pod: Mapping[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_TRACK) == CANARY_TRACK


@dataclass(frozen=True)
class RolloutObservation:
    """What the policy decides from (`desired.plan_serving` builds it from what the
    controller gathered)."""

    rollout: RolloutSpec
    replicas: int
    """spec.serving.replicas: the budget of serving pods."""
    progress_deadline: float
    """Seconds the canary may take to be Ready at a step."""
    stable: TargetVersion | None
    """The version the stable Deployment's template runs (None: no Deployment yet)."""
    target: TargetVersion | None
    """The version that should serve (rejected versions already left out); None when the
    store could not be read."""
    stable_pods: PodCounts
    canary_pods: PodCounts
    canary_problem: Finding | None
    """The first finding on the canary's pods that needs a person (crash loop, OOM, ...)."""
    previous: Mapping[str, Any]
    """status.rollout as it is."""
    annotations: Mapping[str, str]
    generation: int
    canary_exists: bool = False
    """A canary Deployment exists (it is kept, at 0 replicas, between rollouts)."""
    canary_deployed: TargetVersion | None = None
    """The version the canary Deployment's template runs."""
    measurement: Measurement | None = None
    """The canary's last interval, measured by the controller (spec.rollout.analysis); None
    when no measurement was due in this pass."""
    service_name: str = "<name>"
    """The ModelDeployment's name: its Service's, in messages."""
    canary_waiting: Finding | None = None
    """The first finding on the canary's pods that waiting may clear (Unschedulable before the
    deadline, with the scheduler's words): said in the status, not acted on."""
    traffic_problem: Finding | None = None
    """spec.rollout.traffic GatewayAPI: why the HTTPRoute's weights cannot be written (no
    route, no Gateway API, no backendRefs to our Services). No rollout starts while it lasts,
    and one in flight holds its step."""


@dataclass(frozen=True)
class RolloutPlan:
    """What each Deployment should be and what status.rollout should say."""

    stable: TargetVersion | None
    """The stable Deployment's version; None: make none (nothing to serve yet)."""
    stable_replicas: int
    canary: TargetVersion | None
    """The canary Deployment's version; None: no canary Deployment is needed."""
    canary_replicas: int
    status: dict[str, Any] | None
    """status.rollout as it should be; None: leave it out."""
    events: tuple[Event, ...] = ()
    progress: Finding | None = None
    """While a rollout is in flight: what it is doing, for the Reconciling condition."""
    rejected_now: int | None = None
    """The version rolled back in this pass."""
    service_version: int | None = None
    """BlueGreen: the only version the Service <md> selects; None: every serving pod."""


def canary_replicas(replicas: int, weight: int) -> int:
    """The canary's pods for a step: the weight's share of the replicas, rounded up so that
    any weight gets at least one pod, and never more than the replicas."""
    if replicas <= 0 or weight <= 0:
        return 0
    return min(replicas, max(1, math.ceil(replicas * weight / 100)))


def rejected_numbers(
    previous: Mapping[str, Any] | None, pinned: int | None, generation: int
) -> frozenset[int]:
    """Versions not to try again: every rejected one, except one a person pinned (in
    spec.model.version) after it was rejected."""
    numbers = set()
    for entry in (previous or {}).get("rejected") or []:
        number = _int(entry.get("number"))
        if number is None:
            continue
        pinned_since = pinned == number and generation > (_int(entry.get("generation")) or 0)
        if not pinned_since:
            numbers.add(number)
    return frozenset(numbers)


def rejected_pin(
    previous: Mapping[str, Any] | None, pinned: int | None, current: int | None
) -> Finding | None:
    """Why a pinned version is not served when its canary was rolled back and it was pinned
    before that (see `rejected_numbers`); None otherwise."""
    entry = next(
        (e for e in (previous or {}).get("rejected") or [] if _int(e.get("number")) == pinned),
        None,
    )
    if entry is None or pinned is None:
        return None
    keeps = f" Version {current} keeps serving." if current is not None else ""
    return Finding(
        VERSION_REJECTED,
        f"version {pinned} is pinned in spec.model.version, but its canary was rolled back "
        f"({entry.get('reason')}), so it is not tried again; to retry it, change the spec with "
        f"the pin in place (metadata.generation above {entry.get('generation')}), or pin "
        f"another version.{keeps}",
        version=pinned,
    )


def without_rejected(
    versions: Sequence[VersionInfo], rejected: frozenset[int]
) -> list[VersionInfo]:
    return [v for v in versions if v.number not in rejected]


def mark_rejected(
    versions: Sequence[Mapping[str, Any]], previous: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """status.versions with the rejected versions' state, reason and message."""
    by_number = {
        _int(entry.get("number")): entry for entry in (previous or {}).get("rejected") or []
    }
    marked = []
    for entry in versions:
        rejection = by_number.get(_int(entry.get("number")))
        if rejection is None or entry.get("state") != "complete":
            marked.append(dict(entry))
            continue
        marked.append(
            {
                **entry,
                "state": "Rejected",
                "reason": rejection.get("reason"),
                "message": rejection.get("message"),
            }
        )
    return marked


def without_canary(previous: Mapping[str, Any], strategy: str) -> dict[str, Any] | None:
    """status.rollout once spec.rollout.strategy is no longer Canary: a rollout in flight is
    over (its canary goes to 0; the strategy now in the spec rolls the version out)."""
    if not previous:
        return None
    if _phase(previous.get("phase")) not in _IN_FLIGHT:
        return dict(previous)
    return _status(
        previous,
        phase=RolloutPhase.ABORTED,
        reason=SUPERSEDED,
        message=f"spec.rollout.strategy changed to {strategy}: the canary of version "
        f"{previous.get('canaryVersion', '?')} stopped and its pods are removed.",
        canaryReplicas=0,
    )


class _Begun(NamedTuple):
    """Where a rollout stands when its target differs from the stable version."""

    stable: TargetVersion
    target: TargetVersion
    phase: RolloutPhase | None
    new: TargetVersion | None
    """The canary (or preview) version status records, if any."""
    in_flight: bool


def _begin(
    observed: RolloutObservation, now: datetime, noun: str, *, fixed: bool | None
) -> RolloutPlan | _Begun:
    """The first part of every strategy's pass: with no stable version, or with the target
    back on the stable one, the plan is settled here (a promotion's hand-over finishes, a
    rollout in flight is Superseded); otherwise where the rollout stands. `noun` names the new
    version's pods in the Superseded message, `fixed` is the hand-over's GPU rule."""
    previous = observed.previous
    stable, target = observed.stable, observed.target
    if stable is None:
        # The first version has nothing to be compared with: it becomes the stable one.
        return _settled(observed, target, dict(previous) or None)
    phase = _phase(previous.get("phase"))
    new = _version(previous.get("canaryVersion"), previous.get("canaryDigest"))
    in_flight = phase in _IN_FLIGHT and new is not None
    if target is None:
        # The store cannot say (an outage): a rollout in flight goes on, else what serves stays.
        target = new if in_flight and new is not None else stable
    if not _same(target, stable):
        return _Begun(stable, target, phase, new, in_flight)
    if in_flight and phase is RolloutPhase.PROMOTING and _same(new, stable):
        return _hand_over(observed, dict(previous), now, fixed=fixed)
    if in_flight:
        # The target went back to the stable version (a pin, a version withdrawn).
        status = _status(
            previous,
            phase=RolloutPhase.ABORTED,
            reason=SUPERSEDED,
            message=f"version {stable.number} is the target again; the {noun} of version "
            f"{new.number if new else '?'} stopped and its pods are removed.",
        )
        return _settled(observed, stable, status)
    return _settled(observed, stable, dict(previous) or None)


def plan_rollout(observed: RolloutObservation, now: datetime) -> RolloutPlan:
    """Decide one pass of a canary rollout (see the module docstring)."""
    begun = _begin(observed, now, "rollout", fixed=None)
    if isinstance(begun, RolloutPlan):
        return begun
    previous, replicas = observed.previous, observed.replicas
    stable, target, phase, canary, in_flight = begun

    events: list[Event] = []
    status = dict(previous)
    if not in_flight or not _same(canary, target):
        if observed.traffic_problem is not None:
            # Without weights to write, the canary would get no traffic (or all of it): the
            # stable version keeps everything until the route is there.
            if in_flight:
                status = _status(
                    previous,
                    phase=RolloutPhase.ABORTED,
                    reason=SUPERSEDED,
                    message=f"version {target.number} is the target now, but its rollout "
                    f"cannot start ({observed.traffic_problem.reason}); the canary of version "
                    f"{canary.number if canary else '?'} stopped and its pods are removed.",
                )
            return _settled(observed, stable, status or None)
        status = _started(observed, target, stable, now)
        events.append(
            Event(
                "Normal",
                CANARY_STARTED,
                f"rolling out version {target.number} as a canary beside version "
                f"{stable.number}: {_step_text(observed.rollout, 1, replicas)}.",
            )
        )
    elif phase is RolloutPhase.PROMOTING:
        return _promote(observed, status, target, now, events)

    abort = observed.annotations.get(ABORT_ANNOTATION)
    if abort and abort != status.get("abortSeen"):
        status["abortSeen"] = abort
        return _roll_back(
            observed,
            status,
            target,
            Finding(
                ABORTED,
                f'the rollout was aborted (annotation {ABORT_ANNOTATION}="{abort}")',
            ),
            now,
            events,
        )
    if observed.canary_problem is not None:
        return _roll_back(observed, status, target, observed.canary_problem, now, events)
    analysis = observed.rollout.analysis
    measured = observed.measurement
    if analysis is not None and measured is not None and measured.version == target.number:
        status["analysis"] = next_analysis(status.get("analysis"), analysis, measured)
        failed = analysis_failure(status["analysis"], analysis)
        if failed is not None:
            return _roll_back(observed, status, target, failed, now, events)
    return _step(observed, status, target, now, events)


def plan_blue_green(observed: RolloutObservation, now: datetime) -> RolloutPlan:
    """Decide one pass of a blue-green rollout: the new version at full size in the canary
    Deployment, behind the preview Service only; promoted (by a person, or by a passing
    measurement when an analysis is set) with one write of the Service's selector; the old
    version's pods kept `scaleDownDelay`, then the stable Deployment takes the new version
    and the canary goes to 0 once it is Ready. No GPU budget: it needs room for both."""
    plan = _blue_green(observed, now)
    status = dict(plan.status) if plan.status is not None else None
    stable_number = plan.stable.number if plan.stable is not None else None
    active = stable_number
    if status is not None:
        switched = status.get("switchedAt") is not None and status.get("phase") in (
            RolloutPhase.PROMOTING.value,
            RolloutPhase.PROMOTED.value,
        )
        if switched:
            active = _int(status.get("canaryVersion"))
        status["activeVersion"] = active
        # The share of the Service's traffic, not of the pods: all or nothing.
        status["weight"] = 100 if switched else 0
    return dataclasses.replace(plan, status=status, service_version=active)


def _blue_green(observed: RolloutObservation, now: datetime) -> RolloutPlan:
    begun = _begin(observed, now, "preview", fixed=True)
    if isinstance(begun, RolloutPlan):
        return begun
    previous, replicas = observed.previous, observed.replicas
    stable, target, phase, preview, in_flight = begun

    events: list[Event] = []
    status = dict(previous)
    name = observed.service_name
    if not in_flight or not _same(preview, target):
        status = _started(observed, target, stable, now)
        events.append(
            Event(
                "Normal",
                PREVIEW_STARTED,
                f"running version {target.number} at full size ({replicas} pods) behind the "
                f"preview Service {name}-preview; version {stable.number} keeps all traffic.",
            )
        )
    elif phase is RolloutPhase.PROMOTING:
        return _switch(observed, status, target, now, events)

    abort = observed.annotations.get(ABORT_ANNOTATION)
    if abort and abort != status.get("abortSeen"):
        status["abortSeen"] = abort
        problem = Finding(
            ABORTED, f'the rollout was aborted (annotation {ABORT_ANNOTATION}="{abort}")'
        )
        return _roll_back(observed, status, target, problem, now, events)
    if observed.canary_problem is not None:
        return _roll_back(observed, status, target, observed.canary_problem, now, events)
    analysis = observed.rollout.analysis
    measured = observed.measurement
    if analysis is not None and measured is not None and measured.version == target.number:
        status["analysis"] = next_analysis(status.get("analysis"), analysis, measured)
        failed = analysis_failure(status["analysis"], analysis)
        if failed is not None:
            return _roll_back(observed, status, target, failed, now, events)

    ready = observed.canary_pods.ready(target.number)
    if ready < replicas:
        started = parse_timestamp(status.get("waitingSince"))
        if started is None:
            lost = status.get("stepReachedAt") is not None
            started = now if lost else (parse_timestamp(status.get("startedAt")) or now)
        status["waitingSince"] = rfc3339(started)
        status.pop("stepReachedAt", None)
        if (now - started).total_seconds() > observed.progress_deadline:
            problem = Finding(
                PROGRESS_DEADLINE_EXCEEDED,
                f"the preview of version {target.number} did not have {replicas} ready pods "
                f"within the progress deadline of {observed.progress_deadline:.0f}s",
            )
            return _roll_back(observed, status, target, problem, now, events)
        waiting = observed.canary_waiting
        status.update(
            phase=RolloutPhase.PROGRESSING.value,
            reason=waiting.reason if waiting is not None else PREVIEW_STARTING,
        )
        status["message"] = (
            f"waiting for {replicas} ready pods of version {target.number} behind {name}-preview "
            f"({ready} so far)"
            + (f": {waiting.message.rstrip('.')}" if waiting is not None else "")
            + f"; version {stable.number} serves all traffic meanwhile."
        )
        return _plan(observed, stable, replicas, target, replicas, status, events)
    reached_at = parse_timestamp(status.get("stepReachedAt")) or now
    status["stepReachedAt"] = rfc3339(reached_at)
    status.pop("waitingSince", None)
    promote = observed.annotations.get(PROMOTE_ANNOTATION)
    promoted = bool(promote) and promote != status.get("promoteSeen")
    if promoted:
        status["promoteSeen"] = promote
    elif analysis is not None and not passed_since(status.get("analysis"), reached_at):
        last = (status.get("analysis") or {}).get("verdict") or "none yet"
        status.update(phase=RolloutPhase.PROGRESSING.value, reason=WAITING_FOR_ANALYSIS)
        status["message"] = (
            f"version {target.number} is Ready behind {name}-preview; waiting for a measurement "
            f"that passes (last: {last}) before the switch. Send it traffic through "
            f"{name}-preview, or promote it by hand."
        )
        return _plan(observed, stable, replicas, target, replicas, status, events)
    elif analysis is None:
        status.update(phase=RolloutPhase.PAUSED.value, reason=WAITING_FOR_PROMOTION)
        status["message"] = (
            f"version {target.number} is Ready behind {name}-preview and holds until promoted: "
            f"kubectl annotate md {name} {PROMOTE_ANNOTATION}=$(date +%s) --overwrite, or "
            f"abort with {ABORT_ANNOTATION}."
        )
        return _plan(observed, stable, replicas, target, replicas, status, events)
    return _switch(observed, status, target, now, events)


def _switch(
    observed: RolloutObservation,
    status: dict[str, Any],
    target: TargetVersion,
    now: datetime,
    events: list[Event],
) -> RolloutPlan:
    """Promotion of a blue-green rollout: the Service switches to the new version (the plan's
    service_version) at once; the old version's pods stay scaleDownDelay, then go; the stable
    Deployment then takes the new version and the preview's pods move back to it one at a
    time, so the hand-over never needs more pods than the preview already holds."""
    stable = observed.stable
    assert stable is not None
    replicas = observed.replicas
    delay = observed.rollout.scale_down_delay
    delay = DEFAULT_SCALE_DOWN_DELAY if delay is None else delay
    if status.get("phase") != RolloutPhase.PROMOTING.value or not status.get("switchedAt"):
        status.update(phase=RolloutPhase.PROMOTING.value, reason=PROMOTING)
        status["switchedAt"] = rfc3339(now)
        events.append(
            Event(
                "Normal",
                SWITCHED,
                f"the Service {observed.service_name} now sends every request to version "
                f"{target.number}; version {stable.number} stays {delay:.0f}s, then goes.",
            )
        )
    switched_at = parse_timestamp(status.get("switchedAt")) or now
    until = switched_at + timedelta(seconds=delay)
    if now < until:
        status["message"] = (
            f"version {target.number} takes all traffic; version {stable.number} stays until "
            f"{rfc3339(until)} (scaleDownDelay)."
        )
        return _plan(observed, stable, replicas, target, replicas, status, events)
    if observed.stable_pods.existing > 0:
        # The old version goes first: the stable Deployment changes its template while it
        # has no pods, so its rolling update never needs a pod (a GPU) beyond the preview's.
        status["message"] = (
            f"version {target.number} takes all traffic; the pods of version {stable.number} "
            "are going."
        )
        return _plan(observed, stable, 0, target, replicas, status, events)
    handover = _hand_over(observed, status, now, target=target, fixed=True)
    return dataclasses.replace(handover, events=(*events, *handover.events))


def _step(
    observed: RolloutObservation,
    status: dict[str, Any],
    target: TargetVersion,
    now: datetime,
    events: list[Event],
) -> RolloutPlan:
    steps = observed.rollout.steps
    replicas = observed.replicas
    index = min(max(_int(status.get("step")) or 1, 1), len(steps))
    while True:
        step = steps[index - 1]
        canary_wanted = canary_replicas(replicas, step.weight)
        stable_wanted = replicas - canary_wanted if _fixed(observed) else replicas
        stable_ready = observed.stable_pods.ready()
        reached = observed.canary_pods.ready(target.number) >= canary_wanted and (
            not _fixed(observed) or observed.stable_pods.existing <= stable_wanted
        )
        if not reached:
            # The deadline counts from when the waiting began: the step's start, or the moment
            # a step already reached lost a pod (a node drained under a long pause).
            started = parse_timestamp(status.get("waitingSince"))
            if started is None:
                lost = status.get("stepReachedAt") is not None
                started = now if lost else (parse_timestamp(status.get("stepStartedAt")) or now)
            status["waitingSince"] = rfc3339(started)
            if (now - started).total_seconds() > observed.progress_deadline:
                problem = Finding(
                    PROGRESS_DEADLINE_EXCEEDED,
                    f"the canary of version {target.number} did not have {canary_wanted} ready "
                    f"pods within the progress deadline of {observed.progress_deadline:.0f}s "
                    f"at step {index}",
                )
                return _roll_back(observed, status, target, problem, now, events)
            status.update(phase=RolloutPhase.PROGRESSING.value, reason=CANARY_STEP)
            stable_number = observed.stable.number if observed.stable else "?"
            status["message"] = (
                f"step {index} of {len(steps)}: waiting for {canary_wanted} ready pods of "
                f"version {target.number} ({observed.canary_pods.ready(target.number)} so far); "
                f"{stable_ready} pods of version {stable_number} serve meanwhile."
            )
            status.pop("stepReachedAt", None)
            break
        reached_at = parse_timestamp(status.get("stepReachedAt")) or now
        status["stepReachedAt"] = rfc3339(reached_at)
        status.pop("waitingSince", None)
        held = observed.traffic_problem
        if held is not None:
            # The route's weights cannot follow a next step: hold this one (an abort, a
            # failing analysis or a crashing canary still roll back).
            status.update(phase=RolloutPhase.PROGRESSING.value, reason=held.reason)
            status["message"] = (
                f"step {index} of {len(steps)} ({step.weight}%) holds: {held.message.rstrip('.')}."
            )
            break
        promote = observed.annotations.get(PROMOTE_ANNOTATION)
        promoted = bool(promote) and promote != status.get("promoteSeen")
        if step.pause is None and not promoted:
            status.update(phase=RolloutPhase.PAUSED.value, reason=WAITING_FOR_PROMOTION)
            status["message"] = (
                f"step {index} of {len(steps)} ({step.weight}%) holds until promoted: "
                f"kubectl annotate md <name> {PROMOTE_ANNOTATION}=$(date +%s) --overwrite, "
                f"or abort with {ABORT_ANNOTATION}."
            )
            break
        if step.pause is not None and not promoted:
            until = reached_at + timedelta(seconds=step.pause)
            if now < until:
                status.update(phase=RolloutPhase.PROGRESSING.value, reason=PAUSING)
                # A time, not a countdown: the status changes only when something happens.
                status["message"] = (
                    f"step {index} of {len(steps)} ({step.weight}%): version {target.number} "
                    f"is Ready; holding until {rfc3339(until)}."
                )
                break
            analysis = status.get("analysis")
            if observed.rollout.analysis is not None and not passed_since(analysis, reached_at):
                # The pause is over, but nothing measured at this step said the canary is
                # good: it holds (a failure still rolls it back; a person may promote).
                last = (analysis or {}).get("verdict") or "none yet"
                status.update(phase=RolloutPhase.PROGRESSING.value, reason=WAITING_FOR_ANALYSIS)
                status["message"] = (
                    f"step {index} of {len(steps)} ({step.weight}%): the pause is over; "
                    f"waiting for a measurement of version {target.number} that passes "
                    f"(last: {last}) before the next step."
                )
                break
        if promoted:
            status["promoteSeen"] = promote
        if index >= len(steps):
            return _promote(observed, status, target, now, events)
        index += 1
        status.update(step=index, stepStartedAt=rfc3339(now))
        status.pop("stepReachedAt", None)
        status.pop("waitingSince", None)
        events.append(
            Event(
                "Normal",
                CANARY_STEP,
                f"version {target.number}: {_step_text(observed.rollout, index, replicas)}.",
            )
        )
    status["step"] = index
    return _plan(observed, observed.stable, stable_wanted, target, canary_wanted, status, events)


def _promote(
    observed: RolloutObservation,
    status: dict[str, Any],
    target: TargetVersion,
    now: datetime,
    events: list[Event],
) -> RolloutPlan:
    """The last step is done: the stable Deployment takes the new version. With a Fixed
    budget the canary first takes every replica, so the stable Deployment's template changes
    while it has no pods (a rolling update of it would surge)."""
    replicas = observed.replicas
    if status.get("phase") != RolloutPhase.PROMOTING.value:
        status.update(phase=RolloutPhase.PROMOTING.value, reason=PROMOTING)
        events.append(
            Event("Normal", PROMOTING, f"promoting version {target.number} to every replica.")
        )
    status["message"] = (
        f"promoting version {target.number}: the canary takes all {replicas} replicas first."
    )
    if _fixed(observed) and observed.stable_pods.existing > 0:
        return _plan(observed, observed.stable, 0, target, replicas, status, events)
    handover = _hand_over(observed, status, now, target=target)
    return RolloutPlan(
        handover.stable,
        handover.stable_replicas,
        handover.canary,
        handover.canary_replicas,
        handover.status,
        (*events, *handover.events),
        handover.progress,
    )


def _hand_over(
    observed: RolloutObservation,
    status: dict[str, Any],
    now: datetime,
    target: TargetVersion | None = None,
    *,
    fixed: bool | None = None,
) -> RolloutPlan:
    """The stable Deployment runs the new version; the canary's pods move back to it. Fixed:
    one pod at a time (a canary pod goes, then a stable one starts). Surge: the canary stays
    until the stable Deployment is fully Ready. `fixed` overrides the spec's budget (a
    blue-green hand-over is Fixed: its preview already holds every replica)."""
    version = target or observed.stable
    assert version is not None
    replicas = observed.replicas
    ready = observed.stable_pods.ready(version.number)
    fixed = _fixed(observed) if fixed is None else fixed
    if fixed:
        canary_wanted = 0 if ready >= replicas else max(0, replicas - ready - 1)
        canary_wanted = min(canary_wanted, observed.canary_pods.existing)
        stable_wanted = replicas - canary_wanted
    else:
        canary_wanted = 0 if ready >= replicas else observed.canary_pods.existing
        stable_wanted = replicas
    events: list[Event] = []
    status = {
        **status,
        "message": f"promoting version {version.number}: {ready} of {replicas} replicas of "
        "the stable Deployment run it and are Ready.",
    }
    if ready >= replicas and observed.canary_pods.existing == 0:
        status = {
            **status,
            "phase": RolloutPhase.PROMOTED.value,
            "reason": PROMOTED,
            "message": f"version {version.number} was promoted: it serves all {replicas} replicas.",
            "stableVersion": version.number,
        }
        status.pop("stepReachedAt", None)
        events.append(Event("Normal", PROMOTED, str(status["message"])))
    return _plan(
        observed,
        version,
        stable_wanted,
        version if observed.canary_exists or canary_wanted else None,
        canary_wanted,
        status,
        events,
        fixed=fixed,
    )


def _roll_back(
    observed: RolloutObservation,
    status: dict[str, Any],
    target: TargetVersion,
    problem: Finding,
    now: datetime,
    events: list[Event],
) -> RolloutPlan:
    stable = observed.stable
    assert stable is not None
    message = (
        f"version {target.number} was rolled back: {problem.message.rstrip('.')}. Version "
        f"{stable.number} serves all traffic; version {target.number} is not tried again until "
        "a newer version is published or it is pinned in spec.model.version."
    )
    rejection = RejectedVersion(
        number=target.number,
        digest=target.digest,
        reason=problem.reason,
        message=message,
        time=rfc3339(now),
        generation=observed.generation,
    )
    rejected = [
        entry
        for entry in status.get("rejected") or []
        if _int(entry.get("number")) != target.number
    ]
    rejected = [*rejected, to_resource_dict(rejection)][-KEPT_REJECTIONS:]
    aborted = problem.reason == ABORTED
    status.update(
        phase=(RolloutPhase.ABORTED if aborted else RolloutPhase.ROLLED_BACK).value,
        reason=problem.reason,
        message=message,
        rejected=rejected,
    )
    status.pop("stepReachedAt", None)
    status.pop("waitingSince", None)
    events.append(Event("Warning", ROLLED_BACK, message))
    plan = _settled(observed, stable, status)
    return RolloutPlan(
        plan.stable,
        plan.stable_replicas,
        plan.canary,
        plan.canary_replicas,
        plan.status,
        tuple(events),
        None,
        rejected_now=target.number,
    )


def _started(
    observed: RolloutObservation, target: TargetVersion, stable: TargetVersion, now: datetime
) -> dict[str, Any]:
    """status.rollout for a new rollout; the annotation values present now are not requests."""
    previous = observed.previous
    blue_green = observed.rollout.strategy == BLUE_GREEN
    fresh = RolloutStatus(
        strategy=observed.rollout.strategy,
        phase=RolloutPhase.PROGRESSING,
        step=1,
        # BlueGreen has one step: the switch.
        steps=1 if blue_green else len(observed.rollout.steps),
        active_version=stable.number if blue_green else None,
        stable_version=stable.number,
        canary_version=target.number,
        canary_digest=target.digest,
        started_at=rfc3339(now),
        step_started_at=rfc3339(now),
        reason=PREVIEW_STARTING if blue_green else CANARY_STEP,
        promote_seen=observed.annotations.get(PROMOTE_ANNOTATION),
        abort_seen=observed.annotations.get(ABORT_ANNOTATION),
    )
    status = to_resource_dict(fresh)
    if observed.rollout.analysis is not None:
        status["analysis"] = fresh_analysis(observed.rollout.analysis, target.number)
    status["rejected"] = list(previous.get("rejected") or [])
    return status


def _settled(
    observed: RolloutObservation, version: TargetVersion | None, status: dict[str, Any] | None
) -> RolloutPlan:
    """No rollout in flight: every replica on `version`, the canary (if any) at 0."""
    replicas = observed.replicas
    canary = observed.canary_deployed if observed.canary_exists else None
    return _plan(observed, version, replicas, canary, 0, status, [], in_flight=False)


def _plan(
    observed: RolloutObservation,
    stable: TargetVersion | None,
    stable_wanted: int,
    canary: TargetVersion | None,
    canary_wanted: int,
    status: dict[str, Any] | None,
    events: Sequence[Event],
    *,
    in_flight: bool = True,
    fixed: bool | None = None,
) -> RolloutPlan:
    """Apply the budget: under Fixed, a side grows only into what the other side's existing
    pods leave free, so pods that exist never outnumber the replicas."""
    replicas = observed.replicas
    stable_replicas, canary_replicas_ = stable_wanted, canary_wanted
    if _fixed(observed) if fixed is None else fixed:
        stable_replicas = min(stable_wanted, max(0, replicas - observed.canary_pods.existing))
        canary_replicas_ = min(canary_wanted, max(0, replicas - observed.stable_pods.existing))
    if status is not None:
        stable_ready = observed.stable_pods.ready()
        canary_ready = observed.canary_pods.ready()
        total = stable_ready + canary_ready
        status = {
            **status,
            "weight": round(100 * canary_ready / total) if total else 0,
            "stableReplicas": stable_replicas,
            "canaryReplicas": canary_replicas_,
        }
    progress = None
    if in_flight and status is not None and status.get("phase") in {p.value for p in _IN_FLIGHT}:
        # The rolling update's own progress reason: it is progress, never a Warning.
        said = status.get("message") or "a canary rollout is in progress."
        progress = Finding(ROLLING_OUT, f"canary: {said}", needs_person=False)
    return RolloutPlan(
        stable, stable_replicas, canary, canary_replicas_, status, tuple(events), progress
    )


def _status(previous: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    status = {
        **previous,
        **{k: (v.value if isinstance(v, RolloutPhase) else v) for k, v in changes.items()},
    }
    status.pop("stepReachedAt", None)
    return status


def _step_text(rollout: RolloutSpec, index: int, replicas: int) -> str:
    step = rollout.steps[index - 1]
    pods = canary_replicas(replicas, step.weight)
    return (
        f"step {index} of {len(rollout.steps)}, weight {step.weight}% ({pods} of {replicas} pods)"
    )


def _fixed(observed: RolloutObservation) -> bool:
    # BlueGreen runs both versions at full size: it has no budget.
    return observed.rollout.strategy == CANARY and observed.rollout.gpu_budget == "Fixed"


def _same(a: TargetVersion | None, b: TargetVersion | None) -> bool:
    return a is not None and b is not None and a.number == b.number and a.digest == b.digest


def _version(number: object, digest: object) -> TargetVersion | None:
    parsed = _int(number)
    if parsed is None or not digest:
        return None
    return TargetVersion(parsed, str(digest))


def _phase(value: object) -> RolloutPhase | None:
    try:
        return RolloutPhase(str(value))
    except ValueError:
        return None


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None
