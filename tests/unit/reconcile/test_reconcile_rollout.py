"""The canary rollout policy: step and replica arithmetic, the GPU budget, pauses, promotion,
abort and rollback — each decided from an observation and an injected clock."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from modelship.api import RolloutSpec, parse_spec
from modelship.reconcile.analysis import Histogram, Measurement, ServingCounters, Window
from modelship.reconcile.deployment import ServingSettings, deployed_version
from modelship.reconcile.desired import ServingObservation, plan_serving
from modelship.reconcile.findings import Finding
from modelship.reconcile.rollout import (
    ABORT_ANNOTATION,
    PROMOTE_ANNOTATION,
    PodCounts,
    RolloutObservation,
    RolloutPlan,
    canary_replicas,
    mark_rejected,
    plan_rollout,
    rejected_numbers,
)
from modelship.reconcile.status import status_patch
from tests.unit.reconcile.builders import (
    NOW,
    deployment,
    model_deployment,
    pod,
    ready_pods,
    target,
    version,
)

V1, V2, V3 = target(1), target(2), target(3)


def rollout_spec(*steps: dict[str, Any], budget: str = "Fixed") -> RolloutSpec:
    spec = {
        "model": {"storageUri": "s3://models/digits"},
        "rollout": {"strategy": "Canary", "steps": list(steps), "gpuBudget": budget},
    }
    return parse_spec(spec, name="digits").rollout


TWO_STEPS = rollout_spec({"weight": 25, "pause": "1m"}, {"weight": 50})


def observe(
    *,
    rollout: RolloutSpec = TWO_STEPS,
    replicas: int = 4,
    stable: Any = V1,
    target_: Any = V2,
    stable_pods: tuple[int, dict[int, int]] = (4, {1: 4}),
    canary_pods: tuple[int, dict[int, int]] = (0, {}),
    problem: Finding | None = None,
    previous: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> RolloutObservation:
    return RolloutObservation(
        rollout=rollout,
        replicas=replicas,
        progress_deadline=600.0,
        stable=stable,
        target=target_,
        stable_pods=PodCounts(*stable_pods),
        canary_pods=PodCounts(*canary_pods),
        canary_problem=problem,
        previous=previous or {},
        annotations=annotations or {},
        generation=3,
        canary_exists=bool(previous),
        canary_deployed=V2 if previous else None,
    )


def at_step(step: int, *, reached: timedelta | None = None, **more: Any) -> dict[str, Any]:
    """status.rollout of a rollout of version 2 over version 1, at `step`."""
    status: dict[str, Any] = {
        "strategy": "Canary",
        "phase": "Progressing",
        "step": step,
        "steps": 2,
        "stableVersion": 1,
        "canaryVersion": 2,
        "canaryDigest": V2.digest,
        "startedAt": "2025-05-01T11:00:00Z",
        "stepStartedAt": "2025-05-01T11:50:00Z",
        **more,
    }
    if reached is not None:
        status["stepReachedAt"] = (NOW - reached).strftime("%Y-%m-%dT%H:%M:%SZ")
    return status


def replicas_of(p: RolloutPlan) -> tuple[int | None, int, int | None, int]:
    return (
        p.stable.number if p.stable else None,
        p.stable_replicas,
        p.canary.number if p.canary else None,
        p.canary_replicas,
    )


@pytest.mark.parametrize(
    ("replicas", "weight", "pods"),
    [(4, 25, 1), (4, 50, 2), (4, 10, 1), (3, 50, 2), (1, 10, 1), (10, 100, 10), (0, 50, 0)],
)
def test_a_step_asks_for_its_share_of_the_replicas_rounded_up(
    replicas: int, weight: int, pods: int
) -> None:
    assert canary_replicas(replicas, weight) == pods


@pytest.mark.parametrize(
    ("observation", "expected", "phase"),
    [
        pytest.param(
            observe(stable=None, target_=V1, stable_pods=(0, {})),
            (1, 4, None, 0),
            None,
            id="first-version-goes-straight-to-stable",
        ),
        pytest.param(observe(target_=V1), (1, 4, None, 0), None, id="steady"),
        pytest.param(
            observe(),
            # Fixed: the stable gives up one pod; the canary's pod waits for it to be gone.
            (1, 3, 2, 0),
            "Progressing",
            id="start-fixed-budget-waits-for-the-stable-pod-to-go",
        ),
        pytest.param(
            observe(stable_pods=(3, {1: 3})),
            (1, 3, 2, 1),
            "Progressing",
            id="fixed-budget-canary-grows-into-the-freed-pod",
        ),
        pytest.param(
            observe(rollout=rollout_spec({"weight": 25}, budget="Surge")),
            (1, 4, 2, 1),
            "Progressing",
            id="surge-keeps-every-stable-replica",
        ),
        pytest.param(
            observe(stable_pods=(3, {1: 3}), canary_pods=(1, {2: 1}), previous=at_step(1)),
            (1, 3, 2, 1),
            "Progressing",
            id="step-reached-pause-starts",
        ),
        pytest.param(
            observe(
                stable_pods=(3, {1: 3}),
                canary_pods=(1, {2: 1}),
                previous=at_step(1, reached=timedelta(minutes=2)),
            ),
            # The pause is over: step 2 (50%) asks for 2 canary pods, 2 stable.
            (1, 2, 2, 1),
            "Progressing",
            id="pause-elapsed-next-step",
        ),
        pytest.param(
            observe(
                stable_pods=(2, {1: 2}),
                canary_pods=(2, {2: 2}),
                previous=at_step(2, reached=timedelta(hours=5)),
            ),
            (1, 2, 2, 2),
            "Paused",
            id="step-without-pause-waits-for-promotion",
        ),
        pytest.param(
            observe(
                stable_pods=(2, {1: 2}),
                canary_pods=(2, {2: 2}),
                previous=at_step(2, reached=timedelta(seconds=5), promoteSeen="a"),
                annotations={PROMOTE_ANNOTATION: "b"},
            ),
            # Promoting under Fixed: the canary takes every replica before the stable
            # Deployment changes version.
            (1, 0, 2, 2),
            "Promoting",
            id="promote-annotation-new-value",
        ),
        pytest.param(
            observe(
                stable_pods=(2, {1: 2}),
                canary_pods=(2, {2: 2}),
                previous=at_step(2, reached=timedelta(seconds=5), promoteSeen="a"),
                annotations={PROMOTE_ANNOTATION: "a"},
            ),
            (1, 2, 2, 2),
            "Paused",
            id="promote-annotation-already-acted-on",
        ),
        pytest.param(
            observe(
                stable_pods=(0, {}),
                canary_pods=(4, {2: 4}),
                previous=at_step(2, phase="Promoting"),
            ),
            # The stable Deployment has no pod left: it takes version 2; a canary pod goes
            # first, the stable one starts once it is gone.
            (2, 0, 2, 3),
            "Promoting",
            id="promoting-hand-over-starts",
        ),
        pytest.param(
            observe(
                stable=V2,
                stable_pods=(3, {2: 3}),
                canary_pods=(1, {2: 1}),
                previous=at_step(2, phase="Promoting"),
            ),
            (2, 3, 2, 0),
            "Promoting",
            id="promoting-hand-over-last-pod",
        ),
        pytest.param(
            observe(
                stable=V2,
                stable_pods=(4, {2: 4}),
                canary_pods=(0, {}),
                previous=at_step(2, phase="Promoting"),
            ),
            (2, 4, 2, 0),
            "Promoted",
            id="promoted",
        ),
    ],
)
def test_rollout_decisions(
    observation: RolloutObservation, expected: tuple[Any, ...], phase: str | None
) -> None:
    p = plan_rollout(observation, NOW)
    assert replicas_of(p) == expected
    assert (p.status or {}).get("phase") == phase


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        pytest.param(
            observe(
                canary_pods=(1, {}),
                previous=at_step(1),
                problem=Finding("CrashLoopBackOff", "container server keeps crashing", version=2),
            ),
            "CrashLoopBackOff",
            id="crash-loop",
        ),
        pytest.param(
            observe(
                stable_pods=(3, {1: 3}),
                canary_pods=(1, {}),
                previous=at_step(1, stepStartedAt="2025-05-01T11:40:00Z"),
            ),
            "ProgressDeadlineExceeded",
            id="never-ready-past-the-deadline",
        ),
        pytest.param(
            observe(
                canary_pods=(1, {2: 1}),
                previous=at_step(1, abortSeen="x"),
                annotations={ABORT_ANNOTATION: "now"},
            ),
            "Aborted",
            id="aborted",
        ),
    ],
)
def test_a_failing_or_aborted_canary_is_rolled_back_and_rejected(
    observation: RolloutObservation, reason: str
) -> None:
    p = plan_rollout(observation, NOW)

    # Every replica back on version 1; the canary goes to 0 (under Fixed, version 1 grows
    # only as the canary's pods go).
    assert p.stable == V1 and p.canary_replicas == 0
    assert p.stable_replicas == 4 - observation.canary_pods.existing
    assert p.rejected_now == 2
    status = p.status or {}
    assert status["phase"] == ("Aborted" if reason == "Aborted" else "RolledBack")
    [rejected] = status["rejected"]
    assert (rejected["number"], rejected["reason"], rejected["generation"]) == (2, reason, 3)
    [event] = [e for e in p.events if e.reason == "RolledBack"]
    assert event.type == "Warning" and "Version 1 serves all traffic" in event.message


def test_a_rejected_version_is_left_out_until_a_person_pins_it_after_the_rollback() -> None:
    rollout = {"rejected": [{"number": 2, "reason": "CrashLoopBackOff", "generation": 3}]}
    assert rejected_numbers(rollout, None, generation=3) == {2}
    assert rejected_numbers(rollout, 2, generation=3) == {2}  # pinned before the rollback
    assert rejected_numbers(rollout, 2, generation=4) == frozenset()  # pinned since


def test_status_versions_show_rejected_versions() -> None:
    rollout = {"rejected": [{"number": 2, "reason": "Aborted", "message": "aborted."}]}
    versions = [{"number": 1, "state": "complete"}, {"number": 2, "state": "complete"}]
    assert mark_rejected(versions, rollout) == [
        {"number": 1, "state": "complete"},
        {"number": 2, "state": "Rejected", "reason": "Aborted", "message": "aborted."},
    ]


def test_a_newer_version_replaces_a_canary_in_flight() -> None:
    p = plan_rollout(observe(target_=V3, canary_pods=(1, {2: 1}), previous=at_step(2)), NOW)
    status = p.status or {}
    assert (status["canaryVersion"], status["step"], status["phase"]) == (3, 1, "Progressing")
    assert p.canary == V3
    assert [e.reason for e in p.events] == ["CanaryStarted"]


def test_the_annotations_present_when_a_rollout_starts_are_not_requests() -> None:
    annotations = {PROMOTE_ANNOTATION: "old", ABORT_ANNOTATION: "old"}
    p = plan_rollout(observe(annotations=annotations), NOW)
    status = p.status or {}
    assert status["phase"] == "Progressing"
    assert (status["promoteSeen"], status["abortSeen"]) == ("old", "old")


def test_the_pods_never_outnumber_the_replicas_under_a_fixed_budget() -> None:
    """Simulate a whole rollout, one pass at a time: pods appear and go only as the planned
    replica counts allow, and at no moment do they outnumber the replicas."""
    rollout = rollout_spec({"weight": 25, "pause": "1m"}, {"weight": 75, "pause": "1m"})
    replicas, now = 4, NOW
    stable, stable_pods = V1, {1: 4}
    canary_pods: dict[int, int] = {}
    previous: dict[str, Any] = {}
    for _ in range(60):
        observation = replace(
            observe(rollout=rollout, previous=previous),
            stable=stable,
            stable_pods=PodCounts(sum(stable_pods.values()), dict(stable_pods)),
            canary_pods=PodCounts(sum(canary_pods.values()), dict(canary_pods)),
            canary_exists=bool(previous),
        )
        p = plan_rollout(observation, now)
        assert p.stable is not None
        # The cluster converges one pod per pass toward the planned counts: removals first.
        stable_pods = _converge(stable_pods, p.stable.number, p.stable_replicas)
        canary_pods = _converge(canary_pods, 2, p.canary_replicas)
        assert sum(stable_pods.values()) + sum(canary_pods.values()) <= replicas
        stable, previous, now = p.stable, p.status or {}, now + timedelta(seconds=20)
        if previous.get("phase") == "Promoted":
            break
    assert previous["phase"] == "Promoted"
    assert stable_pods == {2: 4} and canary_pods == {}


def _converge(pods: dict[int, int], number: int, wanted: int) -> dict[int, int]:
    """A Deployment's pods one pass later: an old version's pod replaced, or one pod more or
    less toward `wanted`."""
    pods = dict(pods)
    others = [v for v in pods if v != number and pods[v] > 0]
    if others:
        pods[others[0]] -= 1
    elif pods.get(number, 0) > wanted:
        pods[number] -= 1
    elif pods.get(number, 0) < wanted:
        pods[number] = pods.get(number, 0) + 1
    return {v: n for v, n in pods.items() if n > 0}


CANARY_MD = model_deployment().replicas(2)
CANARY_MD._spec["rollout"] = {"strategy": "Canary", "steps": [{"weight": 50}]}


def test_plan_serving_runs_the_canary_beside_the_stable_deployment() -> None:
    stable = deployment(CANARY_MD, 1).obj()
    stable["spec"]["replicas"] = 1  # already gave up the canary's pod
    observed = ServingObservation(
        spec=CANARY_MD.spec(),
        generation=1,
        artifacts=[version(1), version(2)],
        deployment=stable,
        pods=ready_pods(1, 1),
        status={"currentVersion": 1},
    )
    p = plan_serving(CANARY_MD.owner(), observed, NOW, ServingSettings("registry.local/s:1"))

    kinds = {o["metadata"]["name"]: o for o in p.objects}
    stable, canary = kinds["digits-serving"], kinds["digits-canary"]
    assert deployed_version(stable) == V1 and stable["spec"]["replicas"] == 1
    assert deployed_version(canary) == V2 and canary["spec"]["replicas"] == 1
    assert canary["spec"]["selector"]["matchLabels"]["modelship.io/track"] == "canary"
    assert canary["spec"]["strategy"] == {"type": "Recreate"}
    assert p.status["rollout"]["phase"] == "Progressing"
    reconciling = next(c for c in p.status["conditions"] if c["type"] == "Reconciling")
    assert reconciling["status"] == "True" and reconciling["reason"] == "RollingOut"
    assert "canary" in reconciling["message"]


def test_plan_serving_rolls_back_a_crash_looping_canary_without_stalling() -> None:
    crashing = pod("digits-canary-x").version(2).crash_looping().obj()
    crashing["metadata"]["labels"]["modelship.io/track"] = "canary"
    rollout = at_step(1, steps=1)
    observed = ServingObservation(
        spec=CANARY_MD.spec(),
        generation=1,
        artifacts=[version(1), version(2)],
        deployment=deployment(CANARY_MD, 1).obj(),
        pods=[*ready_pods(1, 1), crashing],
        status={"currentVersion": 1, "rollout": rollout},
        canary_deployment=deployment(CANARY_MD, 2).obj(),
    )
    p = plan_serving(CANARY_MD.owner(), observed, NOW)

    assert p.status["targetVersion"] == 1
    assert p.status["rollout"]["phase"] == "RolledBack"
    stalled = next(c for c in p.status["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "False"
    assert {v["number"]: v["state"] for v in p.status["versions"]} == {1: "complete", 2: "Rejected"}
    assert "RolledBack" in {e.reason for e in p.events}
    canary = next(o for o in p.objects if o["metadata"]["name"] == "digits-canary")
    assert canary["spec"]["replicas"] == 0


def test_pods_a_deployment_is_still_creating_count_against_the_budget() -> None:
    """The stable Deployment asks for 2 pods but only 1 is seen yet (the other is on its way
    to the cache): the canary must not take the second one's place."""
    stable = deployment(CANARY_MD, 1).obj()
    stable["spec"]["replicas"] = 2
    observed = ServingObservation(
        spec=CANARY_MD.spec(),
        generation=1,
        artifacts=[version(1), version(2)],
        deployment=stable,
        pods=ready_pods(1, 1),
        status={"currentVersion": 1},
    )
    p = plan_serving(CANARY_MD.owner(), observed, NOW)

    canary = next(o for o in p.objects if o["metadata"]["name"] == "digits-canary")
    assert canary["spec"]["replicas"] == 0


def test_a_rollout_in_flight_goes_on_while_the_store_cannot_be_read() -> None:
    p = plan_rollout(
        observe(
            target_=None,
            stable_pods=(2, {1: 2}),
            canary_pods=(2, {2: 2}),
            previous=at_step(2, reached=timedelta(seconds=5)),
        ),
        NOW,
    )
    assert replicas_of(p) == (1, 2, 2, 2)
    assert (p.status or {})["phase"] == "Paused"


def test_the_status_patch_names_dropped_rollout_fields_as_null() -> None:
    """A merge patch merges objects: a field gone from status.rollout must be sent as null."""
    old = {"rollout": {"phase": "Progressing", "stepReachedAt": "2025-05-01T11:59:00Z"}}
    new = {"rollout": {"phase": "RolledBack"}}
    assert status_patch(old, new) == {"rollout": {"phase": "RolledBack", "stepReachedAt": None}}


def test_the_deadline_counts_from_when_a_reached_step_lost_a_pod() -> None:
    """Step 1 was reached long ago (its pause runs); a canary pod is rescheduled and not
    Ready for a moment: that is not a canary past its deadline."""
    lost = observe(
        stable_pods=(3, {1: 3}),
        canary_pods=(1, {}),
        previous=at_step(1, reached=timedelta(seconds=30), stepStartedAt="2025-05-01T11:00:00Z"),
    )
    p = plan_rollout(lost, NOW)
    status = p.status or {}
    assert status["phase"] == "Progressing" and status["waitingSince"] == "2025-05-01T12:00:00Z"

    later = replace(lost, previous=status)
    assert (plan_rollout(later, NOW + timedelta(minutes=5)).status or {})["phase"] == "Progressing"
    p = plan_rollout(later, NOW + timedelta(minutes=11))
    assert (p.status or {})["phase"] == "RolledBack"
    assert (p.status or {})["reason"] == "ProgressDeadlineExceeded"


def test_leaving_the_canary_strategy_mid_rollout_ends_the_rollout() -> None:
    md = model_deployment().replicas(2)
    observed = ServingObservation(
        spec=md.spec(),
        generation=2,
        artifacts=[version(1), version(2)],
        deployment=deployment(md, 1).obj(),
        pods=ready_pods(1, 1),
        status={"currentVersion": 1, "rollout": at_step(1, phase="Paused")},
        canary_deployment=deployment(CANARY_MD, 2).obj(),
    )
    p = plan_serving(md.owner(), observed, NOW)

    assert p.status["rollout"]["phase"] == "Aborted"
    assert "RollingUpdate" in p.status["rollout"]["message"]
    replicas = {o["metadata"]["name"]: o["spec"].get("replicas") for o in p.objects}
    assert replicas["digits-canary"] == 0
    stable = next(o for o in p.objects if o["metadata"]["name"] == "digits-serving")
    assert deployed_version(stable) == V2 and stable["spec"]["replicas"] == 2


def test_a_newer_version_after_a_rollback_gets_its_own_canary() -> None:
    rejected = at_step(1, phase="RolledBack")
    rejected["rejected"] = [{"number": 2, "reason": "CrashLoopBackOff", "generation": 3}]
    p = plan_rollout(observe(target_=V3, previous=rejected), NOW)
    status = p.status or {}
    assert (status["canaryVersion"], status["phase"]) == (3, "Progressing")
    assert [r["number"] for r in status["rejected"]] == [2]  # still remembered


def test_a_version_pinned_before_its_rollback_is_reported_rejected_not_missing() -> None:
    md = model_deployment().replicas(2).pinned(2)
    md._spec["rollout"] = {"strategy": "Canary", "steps": [{"weight": 50}]}
    rollout = at_step(1, phase="RolledBack")
    rollout["rejected"] = [{"number": 2, "reason": "CrashLoopBackOff", "generation": 2}]
    observed = ServingObservation(
        spec=md.spec(),
        generation=2,
        artifacts=[version(1), version(2)],
        deployment=deployment(md, 1).obj(),
        pods=ready_pods(1, 2),
        status={"currentVersion": 1, "rollout": rollout},
    )
    p = plan_serving(md.owner(), observed, NOW)

    stalled = next(c for c in p.status["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "VersionRejected")
    assert "Version 1 keeps serving" in stalled["message"]
    stable = next(o for o in p.objects if o["metadata"]["name"] == "digits-serving")
    assert deployed_version(stable) == V1 and stable["spec"]["replicas"] == 2


# --- automated analysis -------------------------------------------------------------------

ANALYSED = parse_spec(
    {
        "model": {"storageUri": "s3://models/digits"},
        "rollout": {
            "strategy": "Canary",
            "steps": [{"weight": 25, "pause": "1m"}, {"weight": 50}],
            "analysis": {
                "interval": "30s",
                "failureLimit": 2,
                "metrics": [{"name": "latency-p99", "max": "100ms"}],
            },
        },
    },
    name="digits",
).rollout


def interval(seconds: float, *, version: int = 2, ago: timedelta = timedelta(0)) -> Measurement:
    """An interval in which the canary answered 100 requests taking `seconds` each, and the
    stable version 300 taking 5ms."""

    def served(requests: int, each: float) -> ServingCounters:
        buckets = tuple((le, float(requests if each <= le else 0)) for le in (0.01, 0.1, 1.0))
        return ServingCounters(float(requests), 0.0, Histogram((*buckets, (math.inf, requests))))

    return Measurement(
        version=version,
        time=NOW - ago,
        canary=Window(version, served(100, seconds), pods=1),
        stable=Window(1, served(300, 0.005), pods=3),
    )


def analysed(measured: Measurement | None, previous: dict[str, Any], **more: Any) -> Any:
    return replace(
        observe(
            rollout=ANALYSED,
            stable_pods=(3, {1: 3}),
            canary_pods=(1, {2: 1}),
            previous=previous,
            **more,
        ),
        measurement=measured,
    )


def test_a_rollout_starts_its_analysis_with_nothing_measured() -> None:
    status = plan_rollout(observe(rollout=ANALYSED), NOW).status or {}
    assert status["analysis"] == {"version": 2, "measurements": 0, "failures": 0, "failureLimit": 2}


def test_a_canary_failing_its_analysis_is_rolled_back_with_the_values_measured() -> None:
    first = plan_rollout(analysed(interval(0.5), at_step(1)), NOW)
    after_one = first.status or {}
    assert after_one["phase"] == "Progressing" and after_one["analysis"]["failures"] == 1
    assert first.canary_replicas == 1  # one failure is below the limit: the canary stays

    second = plan_rollout(analysed(interval(0.5), after_one), NOW + timedelta(seconds=30))

    status = second.status or {}
    assert status["phase"] == "RolledBack" and status["reason"] == "AnalysisFailed"
    assert second.stable == V1 and second.canary_replicas == 0 and second.rejected_now == 2
    [rejected] = status["rejected"]
    assert rejected["reason"] == "AnalysisFailed"
    assert "latency-p99 991ms (stable 10ms) above max 100ms" in rejected["message"]
    [event] = [e for e in second.events if e.reason == "RolledBack"]
    assert event.type == "Warning" and "latency-p99 991ms" in event.message


def test_a_measurement_of_another_version_is_not_counted() -> None:
    status = plan_rollout(analysed(interval(0.5, version=7), at_step(1)), NOW).status or {}
    assert "analysis" not in status or status["analysis"].get("failures", 0) == 0


def test_a_pause_ends_only_after_a_measurement_at_the_step_passed() -> None:
    reached = at_step(1, reached=timedelta(minutes=2))

    waiting = plan_rollout(analysed(None, reached), NOW).status or {}
    assert (waiting["step"], waiting["reason"]) == (1, "WaitingForAnalysis")
    assert "waiting for a measurement of version 2 that passes" in waiting["message"]

    moved = plan_rollout(analysed(interval(0.005), waiting), NOW).status or {}
    assert (moved["step"], moved["analysis"]["verdict"]) == (2, "Passed")


def test_a_pass_from_before_the_step_was_reached_does_not_end_its_pause() -> None:
    earlier_pass = {"version": 2, "measurements": 1, "failures": 0, "verdict": "Passed"}
    earlier_pass["passedAt"] = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    previous = at_step(1, reached=timedelta(minutes=2), analysis=earlier_pass)

    status = plan_rollout(analysed(None, previous), NOW).status or {}

    assert (status["step"], status["reason"]) == (1, "WaitingForAnalysis")


def test_promotion_by_a_person_does_not_wait_for_the_analysis() -> None:
    previous = at_step(1, reached=timedelta(minutes=2), promoteSeen="a")
    status = (
        plan_rollout(analysed(None, previous, annotations={PROMOTE_ANNOTATION: "b"}), NOW).status
        or {}
    )
    assert status["step"] == 2
