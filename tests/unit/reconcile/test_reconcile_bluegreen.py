"""The blue-green rollout policy: the new version at full size behind the preview Service, the
Service switched in one write at promotion, the old version kept scaleDownDelay, rollback, and
an Unschedulable preview said with the scheduler's words while the stable version serves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelship.api import RolloutSpec, parse_spec
from modelship.reconcile.analysis import Histogram, Measurement, ServingCounters, Window
from modelship.reconcile.desired import ServingObservation, plan_serving
from modelship.reconcile.findings import Finding
from modelship.reconcile.rollout import (
    PROMOTE_ANNOTATION,
    PodCounts,
    RolloutObservation,
    plan_blue_green,
)
from tests.unit.reconcile.builders import (
    NOW,
    deployment,
    model_deployment,
    ready_pods,
    target,
    version,
)

V1, V2 = target(1), target(2)


def blue_green(**more: Any) -> RolloutSpec:
    spec = {
        "model": {"storageUri": "s3://models/digits"},
        "rollout": {"strategy": "BlueGreen", "scaleDownDelay": "30s", **more},
    }
    return parse_spec(spec, name="digits").rollout


def stamp(ago: timedelta) -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_flight(**more: Any) -> dict[str, Any]:
    return {
        "strategy": "BlueGreen",
        "phase": "Progressing",
        "step": 1,
        "steps": 1,
        "stableVersion": 1,
        "canaryVersion": 2,
        "canaryDigest": V2.digest,
        "activeVersion": 1,
        "startedAt": stamp(timedelta(minutes=2)),
        **more,
    }


def observe(
    *,
    rollout: RolloutSpec | None = None,
    stable: Any = V1,
    stable_pods: tuple[int, dict[int, int]] = (3, {1: 3}),
    preview_pods: tuple[int, dict[int, int]] = (0, {}),
    previous: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    waiting: Finding | None = None,
    measurement: Measurement | None = None,
) -> RolloutObservation:
    return RolloutObservation(
        rollout=rollout or blue_green(),
        replicas=3,
        progress_deadline=600.0,
        stable=stable,
        target=V2,
        stable_pods=PodCounts(*stable_pods),
        canary_pods=PodCounts(*preview_pods),
        canary_problem=None,
        previous=previous or {},
        annotations=annotations or {},
        generation=2,
        canary_exists=bool(previous),
        canary_deployed=V2 if previous else None,
        measurement=measurement,
        service_name="digits",
        canary_waiting=waiting,
    )


def test_the_new_version_starts_at_full_size_without_traffic() -> None:
    p = plan_blue_green(observe(), NOW)

    assert (p.stable, p.stable_replicas, p.canary, p.canary_replicas) == (V1, 3, V2, 3)
    assert p.service_version == 1
    status = p.status or {}
    assert (status["phase"], status["reason"], status["weight"]) == (
        "Progressing",
        "PreviewStarting",
        0,
    )
    [event] = p.events
    assert event.reason == "PreviewStarted" and "digits-preview" in event.message


def test_an_unschedulable_preview_says_the_schedulers_words_while_the_stable_serves() -> None:
    scheduler = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu"
    waiting = Finding(
        "Unschedulable",
        f"pod digits-canary-x cannot be scheduled: {scheduler}; waiting for capacity.",
        needs_person=False,
        version=2,
    )
    p = plan_blue_green(
        observe(previous=in_flight(), preview_pods=(3, {2: 1}), waiting=waiting), NOW
    )

    status = p.status or {}
    assert status["reason"] == "Unschedulable" and scheduler in status["message"]
    assert "version 1 serves all traffic meanwhile" in status["message"]
    assert p.service_version == 1 and p.stable_replicas == 3


def test_a_ready_preview_waits_for_promotion_then_the_service_switches_in_one_write() -> None:
    ready = {"preview_pods": (3, {2: 3})}
    paused = plan_blue_green(observe(previous=in_flight(), **ready), NOW).status or {}
    assert (paused["phase"], paused["reason"]) == ("Paused", "WaitingForPromotion")

    switched = plan_blue_green(
        observe(previous=paused, annotations={PROMOTE_ANNOTATION: "now"}, **ready), NOW
    )

    status = switched.status or {}
    assert (status["phase"], status["weight"], status["activeVersion"]) == ("Promoting", 100, 2)
    assert switched.service_version == 2
    # The old version keeps its pods for scaleDownDelay: a quick way back.
    assert (switched.stable, switched.stable_replicas, switched.canary_replicas) == (V1, 3, 3)
    assert [e.reason for e in switched.events] == ["Switched"]


def test_after_scale_down_delay_the_old_version_goes_then_the_pods_move_back() -> None:
    previous = in_flight(
        phase="Promoting", switchedAt=stamp(timedelta(seconds=31)), promoteSeen="now"
    )
    going = plan_blue_green(observe(previous=previous, preview_pods=(3, {2: 3})), NOW)

    # The old version's pods go first (its Deployment changes template only without pods).
    assert (going.stable, going.stable_replicas, going.canary_replicas) == (V1, 0, 3)
    assert going.service_version == 2

    # Then the stable Deployment takes version 2 one pod at a time: never more than 3 pods.
    moving = plan_blue_green(
        observe(previous=going.status, stable_pods=(0, {}), preview_pods=(3, {2: 3})), NOW
    )
    assert (moving.stable, moving.stable_replicas, moving.canary_replicas) == (V2, 0, 2)

    done = plan_blue_green(
        observe(stable=V2, previous=moving.status, stable_pods=(3, {2: 3}), preview_pods=(0, {})),
        NOW,
    )
    status = done.status or {}
    assert (status["phase"], done.service_version, done.canary_replicas) == ("Promoted", 2, 0)


def _slow(version_number: int) -> Measurement:
    def served(each: float) -> ServingCounters:
        buckets = ((0.01, 100.0 if each <= 0.01 else 0.0), (float("inf"), 100.0))
        return ServingCounters(100.0, 0.0, Histogram(buckets))

    return Measurement(
        version_number, NOW, Window(version_number, served(1.0), 1), Window(1, served(0.001), 3)
    )


def test_a_preview_failing_its_analysis_is_rolled_back_without_ever_taking_traffic() -> None:
    rollout = blue_green(
        analysis={"failureLimit": 1, "metrics": [{"name": "latency-p99", "max": "1ms"}]}
    )
    p = plan_blue_green(
        observe(
            rollout=rollout,
            previous=in_flight(),
            preview_pods=(3, {2: 3}),
            measurement=_slow(2),
        ),
        NOW,
    )

    status = p.status or {}
    assert (status["phase"], status["reason"]) == ("RolledBack", "AnalysisFailed")
    assert p.service_version == 1 and p.canary_replicas == 0 and p.rejected_now == 2


def test_plan_serving_selects_one_version_and_adds_the_preview_service() -> None:
    md = model_deployment().replicas(2)
    md._spec["rollout"] = {"strategy": "BlueGreen"}
    observed = ServingObservation(
        spec=md.spec(),
        generation=1,
        artifacts=[version(1), version(2)],
        deployment=deployment(md, 1).obj(),
        pods=ready_pods(1, 2),
        status={"currentVersion": 1},
    )
    p = plan_serving(md.owner(), observed, NOW)

    by_name = {o["metadata"]["name"]: o for o in p.objects}
    assert by_name["digits"]["spec"]["selector"]["modelship.io/version"] == "1"
    assert by_name["digits-preview"]["spec"]["selector"]["modelship.io/track"] == "canary"
    assert by_name["digits-canary"]["spec"]["replicas"] == 2
    assert by_name["digits-serving"]["spec"]["replicas"] == 2
