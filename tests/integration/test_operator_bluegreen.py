"""Blue-green rollouts on the real test bed (kwok pods): the new version at full size behind
the preview Service while the Service keeps selecting the stable version, one write of the
Service's selector at promotion, the old version gone after scaleDownDelay; and a preview
that cannot be scheduled, said with the scheduler's words while the stable version serves."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.dev.simulation import A100, H100
from tests.cluster_fixtures import wait_for
from tests.integration.operator_env import ModelWorld, condition_of, is_ready_with
from tests.integration.test_operator_rollout import events_by_reason, modelship, rollout_phase

pytestmark = pytest.mark.integration

VERSION = "modelship.io/version"


def blue_green_md(world: ModelWorld, gpus: int, product: str) -> dict[str, Any]:
    return (
        world.model_deployment()
        .replicas(2)
        .gpus(gpus, product=product)
        .set("rollout", {"strategy": "BlueGreen", "scaleDownDelay": "2s"})
        .obj()
    )


def service_selector(world: ModelWorld, name: str) -> dict[str, str]:
    service = world.cluster.get("service", name, world.namespace)
    assert service is not None, f"Service {name} is missing"
    return dict(service["spec"]["selector"])


def test_a_blue_green_preview_takes_traffic_only_when_promoted(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(blue_green_md(world, 1, A100), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)
    assert service_selector(world, "digits")[VERSION] == "1"

    world.publish()
    status = world.wait_status(
        rollout_phase("Paused"), "version 2 Ready behind the preview Service", timeout=120
    )
    assert status["rollout"]["reason"] == "WaitingForPromotion"
    assert (status["rollout"]["weight"], status["currentVersion"]) == (0, 1)
    # Both versions at full size; the Service still sends everything to version 1.
    ready = sorted(
        p["metadata"]["labels"][VERSION]
        for p in world.pods()
        if not p["metadata"].get("deletionTimestamp")
    )
    assert ready == ["1", "1", "2", "2"]
    assert service_selector(world, "digits")[VERSION] == "1"
    assert service_selector(world, "digits-preview")["modelship.io/track"] == "canary"

    modelship(world, "rollout", "promote", "digits", "-n", world.namespace)
    wait_for(
        lambda: service_selector(world, "digits").get(VERSION) == "2",
        timeout=60,
        what="the Service to select version 2",
    )
    status = world.wait_status(
        lambda s: is_ready_with(2)(s) and rollout_phase("Promoted")(s),
        "version 2 promoted",
        timeout=180,
    )
    assert status["rollout"]["activeVersion"] == 2
    wait_for(
        lambda: (
            {p["metadata"]["labels"][VERSION] for p in world.pods()} == {"2"}
            and len(world.pods()) == 2
        ),
        timeout=120,
        what="the pods of version 1 and the preview's to be gone",
    )
    assert {"PreviewStarted", "Switched", "Promoted"} <= set(events_by_reason(world))


def test_an_unschedulable_preview_says_why_while_the_stable_version_serves(
    operating: ModelWorld,
) -> None:
    world = operating
    world.publish()
    # Two pods of 8 GPUs fill both H100 nodes: the preview has no room.
    world.cluster.apply(blue_green_md(world, 8, H100), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)

    world.publish()
    status = world.wait_status(
        lambda s: (s.get("rollout") or {}).get("reason") == "Unschedulable",
        "the preview of version 2 said to be Unschedulable",
        timeout=120,
    )
    message = status["rollout"]["message"]
    assert "Insufficient nvidia.com/gpu" in message, message
    assert "version 1 serves all traffic meanwhile" in message
    assert status["currentVersion"] == 1
    assert condition_of(status, "Stalled")["status"] == "False"
    assert service_selector(world, "digits")[VERSION] == "1"
