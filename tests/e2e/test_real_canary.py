"""A canary judged by its analysis on the real node: the serving pods run for real, a steady
load goes through the Service, and the operator (a process on this machine, which reaches the
pods' IPs on the node's bridge) reads their own /metrics.

A version whose p99 latency is above its limit is rolled back by itself: Rejected with the
values measured, a RolledBack Event, every replica and every endpoint of the Service back on
the stable version. The same resource with a limit the version meets then promotes the next
version once a measurement at its step passed.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.cluster_fixtures import wait_for
from tests.e2e.real_node import RealNodeBed, post_when_routed, service_ip
from tests.e2e.test_real_pods import (
    MODEL,
    DigitsModel,
    SteadyLoad,
    digits_model,
    on_real_node,
    predict_url,
    publish,
    ready_on,
    real_world,
    steady_load,
)
from tests.integration.operator_env import OPERATOR_ENV, ModelWorld

__all__ = ["digits_model", "real_world", "steady_load"]

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

INTERVAL = "5s"
FAILURE_LIMIT = 2


def canary_with_analysis(world: ModelWorld, bed: RealNodeBed, latency_max: str) -> dict[str, Any]:
    md = on_real_node(world, bed, replicas=2)
    md["spec"]["rollout"] = {
        "strategy": "Canary",
        "gpuBudget": "Fixed",
        "steps": [{"weight": 50, "pause": "5s"}],
        "analysis": {
            "interval": INTERVAL,
            "failureLimit": FAILURE_LIMIT,
            "metrics": [
                {"name": "latency-p99", "max": latency_max},
                {"name": "error-rate", "max": 0.5},
            ],
        },
    }
    return md


def endpoint_versions(world: ModelWorld) -> set[str]:
    """The versions of the pods behind the Service's ready endpoints: those kube-proxy sends
    new connections to (a terminating pod's endpoint is not ready)."""
    slices = world.cluster.list(
        "endpointslices", world.namespace, f"kubernetes.io/service-name={MODEL}"
    )
    pods = {p["metadata"]["name"]: p for p in world.pods()}
    versions = set()
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            if not conditions.get("ready"):
                continue
            pod = pods.get((endpoint.get("targetRef") or {}).get("name", ""))
            labels = (pod or {}).get("metadata", {}).get("labels", {})
            versions.add(labels.get("modelship.io/version", "?"))
    return versions


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_canary_failing_its_analysis_rolls_back_and_one_passing_it_promotes(
    real_world: ModelWorld,
    real_node: RealNodeBed,
    digits_model: DigitsModel,
    run_operator: Any,
    steady_load: list[tuple[SteadyLoad, threading.Thread]],
) -> None:
    world = real_world
    world.operator = run_operator("--namespace", world.namespace, env=OPERATOR_ENV)
    publish(world, digits_model)
    # No request takes under 0.1ms through a real server: every measurement fails.
    world.cluster.apply(
        canary_with_analysis(world, real_node, latency_max="0.1ms"), namespace=world.namespace
    )
    ready_on(world, 1, replicas=2, timeout=240)
    url = predict_url(service_ip(world.cluster, world.namespace, MODEL))
    post_when_routed(url, {"instances": digits_model.inputs})
    load, thread = SteadyLoad.started(url, {"instances": digits_model.inputs})
    steady_load.append((load, thread))

    publish(world, digits_model)  # version 2, rolled out as a canary under load
    first = world.wait_status(
        lambda s: ((s.get("rollout") or {}).get("analysis") or {}).get("failures", 0) >= 1,
        "a first failed measurement of version 2",
        timeout=300,
    )
    first_failed_at = _time(first["rollout"]["analysis"]["time"])
    status = world.wait_status(
        lambda s: (s.get("rollout") or {}).get("phase") == "RolledBack",
        "the canary of version 2 to be rolled back by its analysis",
        timeout=300,
    )

    rollout = status["rollout"]
    analysis = rollout["analysis"]
    assert rollout["reason"] == "AnalysisFailed", rollout
    assert (analysis["version"], analysis["failures"]) == (2, FAILURE_LIMIT)
    [latency] = [r for r in analysis["results"] if r["metric"] == "latency-p99"]
    assert latency["verdict"] == "Failed" and latency["value"] > 0.0001
    assert latency["requests"] > 0 and latency["stableValue"] is not None
    [rejected] = [v for v in status["versions"] if v["number"] == 2]
    assert rejected["state"] == "Rejected" and rejected["reason"] == "AnalysisFailed"
    assert "latency-p99" in rejected["message"] and "above max 100us" in rejected["message"]
    rolled_back = wait_for(
        lambda: [e for e in world.events() if e["reason"] == "RolledBack"],
        timeout=30,
        what="the RolledBack Event",
    )
    assert rolled_back[0]["type"] == "Warning" and "latency-p99" in rolled_back[0]["message"]

    # All traffic back on version 1: the Service sends nothing to version 2 any more.
    wait_for(
        lambda: endpoint_versions(world) == {"1"},
        timeout=120,
        what="the Service's endpoints to be version 1 only",
    )
    on_stable = datetime.now(UTC)
    ready_on(world, 1, replicas=2)
    rolled_back_at = _time(analysis["time"])
    print(
        f"analysis rollback: first failed measurement {first_failed_at:%H:%M:%S}, rollback "
        f"decided {rolled_back_at:%H:%M:%S}, every ready endpoint on version 1 by "
        f"{on_stable:%H:%M:%S}: {(on_stable - first_failed_at).total_seconds():.1f}s after the "
        f"first failure, {(on_stable - rolled_back_at).total_seconds():.1f}s after the decision "
        f"(interval {INTERVAL}, failureLimit {FAILURE_LIMIT}, status times to 1s); load: "
        f"{load.sent} requests, {len(load.failures)} failed"
    )

    # A limit the version meets: version 3 passes a measurement at its step, then promotes.
    world.cluster.apply(
        canary_with_analysis(world, real_node, latency_max="10s"), namespace=world.namespace
    )
    started = time.monotonic()
    publish(world, digits_model)  # version 3
    status = world.wait_status(
        lambda s: (
            (s.get("rollout") or {}).get("phase") == "Promoted"
            and (s.get("rollout") or {}).get("canaryVersion") == 3
        ),
        "version 3 to be promoted after a passing measurement",
        timeout=300,
    )
    assert status["rollout"]["analysis"]["verdict"] == "Passed"
    assert status["rollout"]["analysis"]["failures"] == 0
    ready_on(world, 3, replicas=2)
    load.stop(thread)
    print(
        f"analysis promotion: version 3 promoted {time.monotonic() - started:.0f}s after "
        f"publishing; load: {load.sent} requests, {len(load.failures)} failed"
    )


def test_a_blue_green_switch_under_load_fails_no_request(
    real_world: ModelWorld,
    real_node: RealNodeBed,
    digits_model: DigitsModel,
    run_operator: Any,
    steady_load: list[tuple[SteadyLoad, threading.Thread]],
) -> None:
    world = real_world
    world.operator = run_operator("--namespace", world.namespace, env=OPERATOR_ENV)
    publish(world, digits_model)
    md = on_real_node(world, real_node, replicas=2)
    md["spec"]["rollout"] = {"strategy": "BlueGreen", "scaleDownDelay": "5s"}
    world.cluster.apply(md, namespace=world.namespace)
    ready_on(world, 1, replicas=2, timeout=240)
    url = predict_url(service_ip(world.cluster, world.namespace, MODEL))
    post_when_routed(url, {"instances": digits_model.inputs})
    load, thread = SteadyLoad.started(url, {"instances": digits_model.inputs})
    steady_load.append((load, thread))

    publish(world, digits_model)  # version 2, at full size behind the preview Service
    world.wait_status(
        lambda s: (s.get("rollout") or {}).get("phase") == "Paused",
        "version 2 Ready behind digits-preview",
        timeout=300,
    )
    preview = predict_url(service_ip(world.cluster, world.namespace, f"{MODEL}-preview"))
    answer = post_when_routed(preview, {"instances": digits_model.inputs})
    assert len(answer["predictions"]) == len(digits_model.inputs)
    assert world.status()["currentVersion"] == 1

    world.cluster.kubectl(
        "annotate", "-n", world.namespace, f"md/{MODEL}", "modelship.io/promote=now", "--overwrite"
    )
    world.wait_status(
        lambda s: (s.get("rollout") or {}).get("phase") == "Promoted",
        "version 2 promoted",
        timeout=300,
    )
    ready_on(world, 2, replicas=2)
    wait_for(
        lambda: (
            {p["metadata"]["labels"]["modelship.io/version"] for p in world.pods()} == {"2"}
            and len(world.pods()) == 2
        ),
        timeout=120,
        what="the pods of version 1 and the preview's to be gone",
    )
    load.stop(thread)
    print(f"blue-green switch under load: {load.sent} requests, {len(load.failures)} failed")
    assert load.failures == [], f"{len(load.failures)} of {load.sent} failed: {load.failures[:5]}"
