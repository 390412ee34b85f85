"""Training and progressive delivery in one resource, for real: on the real node the digits
trainer image trains version 1, which serves; a retrain trains version 2, which passes the gate,
goes out as a canary under steady load, passes its analysis on the serving pods' own metrics and
is promoted without a failed request; a third trained version passes the gate but fails the
analysis (its latency limit tightened below what any real request takes) and is rolled back by
itself while version 2 keeps serving.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from modelship.dev import images, node
from tests.e2e.real_node import RealNodeBed, post_when_routed, service_ip
from tests.e2e.test_real_canary import canary_with_analysis
from tests.e2e.test_real_pods import (
    MODEL,
    SteadyLoad,
    predict_url,
    ready_on,
    real_operating,
    real_world,
    steady_load,
)
from tests.integration.operator_env import ModelWorld

__all__ = ["real_operating", "real_world", "steady_load"]
pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def trained_canary(world: ModelWorld, bed: RealNodeBed, latency_max: str) -> dict[str, Any]:
    md = canary_with_analysis(world, bed, latency_max=latency_max)
    md["spec"]["training"] = {
        "entrypoint": "training:train",
        "image": images.DIGITS_TRAINER_IMAGE,
        "gpu": {"count": 1, "product": node.GPU_PRODUCT},
        "tolerations": node.tolerations(),
        "gate": {"metric": "accuracy", "min": 0.8},
    }
    return md


def retrain(world: ModelWorld, request: str) -> None:
    world.cluster.kubectl(
        "annotate", "modeldeployment", MODEL, "-n", world.namespace,
        f"modelship.io/retrain={request}", "--overwrite",
    )  # fmt: skip


def rollout_of(version: int, phase: str) -> Any:
    def check(status: dict[str, Any]) -> bool:
        rollout = status.get("rollout") or {}
        return rollout.get("canaryVersion") == version and rollout.get("phase") == phase

    return check


def test_trained_versions_go_through_gate_and_canary_one_promoted_one_rolled_back(
    real_operating: ModelWorld,
    real_node: RealNodeBed,
    steady_load: list[tuple[SteadyLoad, threading.Thread]],
) -> None:
    world = real_operating
    world.cluster.apply(trained_canary(world, real_node, "10s"), namespace=world.namespace)
    ready_on(world, 1, replicas=2, timeout=420)  # trained by the first run, served directly

    url = predict_url(service_ip(world.cluster, world.namespace, MODEL))
    body = {"instances": [[0.0] * 64]}
    post_when_routed(url, body)
    load, thread = SteadyLoad.started(url, body)
    steady_load.append((load, thread))

    retrain(world, "second")
    status = world.wait_status(
        rollout_of(2, "Promoted"), "version 2 trained, gated, canaried and promoted", timeout=600
    )
    assert status["training"]["version"] == 2 and status["training"]["state"] == "Succeeded"
    assert status["rollout"]["analysis"]["verdict"] == "Passed"
    ready_on(world, 2, replicas=2, timeout=180)
    sent, failed = load.sent, len(load.failures)
    assert sent > 0 and failed == 0, load.failures[:5]

    # The same resource with a latency limit no real request meets: version 3 passes the gate
    # (accuracy) and then fails the canary's analysis.
    world.cluster.apply(trained_canary(world, real_node, "0.1ms"), namespace=world.namespace)
    retrain(world, "third")
    status = world.wait_status(
        rollout_of(3, "RolledBack"), "version 3 rolled back by its analysis", timeout=600
    )
    assert status["training"]["version"] == 3 and status["training"]["state"] == "Succeeded"
    assert status["rollout"]["reason"] == "AnalysisFailed"
    [rejected] = [v for v in status["versions"] if v["number"] == 3]
    assert rejected["state"] == "Rejected" and rejected["reason"] == "AnalysisFailed"
    status = ready_on(world, 2, replicas=2, timeout=180)
    assert any(e["reason"] == "RolledBack" and e["type"] == "Warning" for e in world.events())
    load.stop(thread)
    print(
        f"loop: promotion of version 2 under load: {sent} requests, {failed} failed; "
        f"whole test: {load.sent} requests, {len(load.failures)} failed"
    )
