"""Canary rollouts with `traffic: GatewayAPI` on the real test bed: the real Gateway API CRDs
(standard channel, from the Go module proxy) are installed, the user's HTTPRoute is a real
object, and the test reads the weights the operator wrote on it at each step, after
promotion and after an abort, and the condition a missing route gives. No Gateway controller
runs here: the weights on the route are the contract any implementation applies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from modelship.dev.gatewayapi import install_gateway_api
from tests.cluster_fixtures import KubeCluster, wait_for
from tests.integration.operator_env import ModelWorld, condition_of, is_ready_with

pytestmark = pytest.mark.integration

STEPS = [{"weight": 20}, {"weight": 50}]  # no pause: each step holds until promoted


@pytest.fixture(scope="module")
def gateway_api(cluster: KubeCluster) -> None:
    install_gateway_api(cluster.kubeconfig)


@pytest.fixture
def gateway_world(gateway_api: None, operating: ModelWorld) -> ModelWorld:
    return operating


def gateway_md(world: ModelWorld, route: str = "web") -> dict[str, Any]:
    return (
        world.model_deployment()
        .replicas(2)
        .gpus(1)
        .set(
            "rollout",
            {
                "strategy": "Canary",
                "steps": STEPS,
                "gpuBudget": "Fixed",
                "traffic": "GatewayAPI",
                "httpRoute": {"name": route},
            },
        )
        .obj()
    )


def http_route(name: str = "web") -> dict[str, Any]:
    """The user's route: theirs are the parent, the hostnames and the matches; the two
    backendRefs name the Services the operator keeps (weights as a user might first write
    them: none, so 1 and 1)."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "public-gateway"}],
            "hostnames": ["digits.example.com"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/healthz"}}],
                 "backendRefs": [{"name": "status-page", "port": 80}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/v1/models/digits"}}],
                 "backendRefs": [{"name": "digits-stable", "port": 8501},
                                 {"name": "digits-canary", "port": 8501}]},
            ],
        },
    }  # fmt: skip


def route_weights(world: ModelWorld, name: str = "web") -> tuple[int, int] | None:
    route = world.cluster.get("httproute", name, world.namespace)
    if route is None:
        return None
    refs = {r["name"]: r.get("weight", 1) for r in route["spec"]["rules"][1]["backendRefs"]}
    return refs["digits-stable"], refs["digits-canary"]


def wait_weights(world: ModelWorld, wanted: tuple[int, int], what: str) -> None:
    wait_for(lambda: route_weights(world) == wanted, timeout=60, what=f"{what}: {wanted}")


def selected_version(world: ModelWorld, service: str) -> str | None:
    obj = world.cluster.get("service", service, world.namespace)
    assert obj is not None, f"no Service {service}"
    return obj["spec"]["selector"].get("modelship.io/version")


def rollout_at(phase: str, step: int | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        rollout = status.get("rollout") or {}
        return rollout.get("phase") == phase and (step is None or rollout.get("step") == step)

    return check


def promote(world: ModelWorld, value: str) -> None:
    world.cluster.kubectl(
        "annotate", "-n", world.namespace, "md/digits", f"modelship.io/promote={value}",
        "--overwrite",
    )  # fmt: skip


def test_canary_steps_set_exact_weights_on_the_httproute_then_all_on_the_new_version(
    gateway_world: ModelWorld,
) -> None:
    world = gateway_world
    world.cluster.apply(http_route(), namespace=world.namespace)
    world.publish()
    world.cluster.apply(gateway_md(world), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)
    # At rest the route sends everything to the stable Service (the user's 1/1 replaced).
    wait_weights(world, (100, 0), "version 1 alone on the route")

    world.publish()
    status = world.wait_status(rollout_at("Paused", 1), "the canary of version 2 at step 1")
    wait_weights(world, (80, 20), "step 1 (20%)")
    # By replicas it would be 1 pod of 2 (50%): the route's weight is the step's exactly.
    assert status["rollout"]["weight"] == 20
    assert status["rollout"]["httpRoute"] == {
        "name": "web",
        "stableWeight": 80,
        "canaryWeight": 20,
    }
    assert (selected_version(world, "digits-stable"), selected_version(world, "digits-canary")) == (
        "1",
        "2",
    )
    assert status["currentVersion"] == 1

    promote(world, "step-2")
    world.wait_status(rollout_at("Paused", 2), "the canary of version 2 at step 2")
    wait_weights(world, (50, 50), "step 2 (50%)")

    promote(world, "all")
    world.wait_status(
        lambda s: is_ready_with(2)(s) and rollout_at("Promoted")(s),
        "version 2 promoted",
        timeout=120,
    )
    wait_weights(world, (100, 0), "after promotion")
    assert selected_version(world, "digits-stable") == "2"

    # Only the weights changed: the user's parent, hostnames, matches and other rule stand.
    route = world.cluster.get("httproute", "web", world.namespace)
    assert route is not None
    theirs = http_route()["spec"]
    assert route["spec"]["parentRefs"][0]["name"] == "public-gateway"
    assert route["spec"]["hostnames"] == theirs["hostnames"]
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == "status-page"
    assert route["spec"]["rules"][1]["matches"][0]["path"]["value"] == "/v1/models/digits"
    shown = world.cluster.kubectl(
        "get", "httproute", "web", "-n", world.namespace, "-o", "json", "--show-managed-fields"
    )
    managers = {m["manager"] for m in json.loads(shown.stdout)["metadata"]["managedFields"]}
    assert "modelship" in managers


def test_an_aborted_canary_puts_every_request_back_on_the_stable_version(
    gateway_world: ModelWorld,
) -> None:
    world = gateway_world
    world.cluster.apply(http_route(), namespace=world.namespace)
    world.publish()
    world.cluster.apply(gateway_md(world), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)
    world.publish()
    world.wait_status(rollout_at("Paused", 1), "the canary of version 2 at step 1")
    wait_weights(world, (80, 20), "step 1 (20%)")

    world.cluster.kubectl(
        "annotate", "-n", world.namespace, "md/digits", "modelship.io/abort=now", "--overwrite"
    )
    world.wait_status(rollout_at("Aborted"), "the canary of version 2 aborted")
    wait_weights(world, (100, 0), "after the abort")
    assert selected_version(world, "digits-stable") == "1"
    world.wait_status(is_ready_with(1), "version 1 serving every replica again", timeout=90)


def test_a_missing_httproute_is_named_in_the_condition_and_no_rollout_starts(
    gateway_world: ModelWorld,
) -> None:
    world = gateway_world
    world.publish()
    world.cluster.apply(gateway_md(world, route="web"), namespace=world.namespace)
    status = world.wait_status(
        lambda s: (
            s.get("currentVersion") == 1
            and condition_of(s, "Stalled").get("reason") == "HTTPRouteNotFound"
        ),
        "version 1 serving, Stalled for the missing HTTPRoute",
        timeout=90,
    )
    assert "HTTPRoute web" in condition_of(status, "Stalled")["message"]

    world.publish()
    # Evidence the operator saw version 2 and chose not to start its canary.
    status = world.wait_status(
        lambda s: (
            s.get("targetVersion") == 2
            and condition_of(s, "Stalled").get("reason") == "HTTPRouteNotFound"
        ),
        "version 2 seen, its rollout held for the missing HTTPRoute",
    )
    assert (status.get("rollout") or {}).get("phase") is None
    assert status["currentVersion"] == 1
    canary = world.cluster.get("deployment", "digits-canary", world.namespace)
    assert canary is None or canary["spec"]["replicas"] == 0
    live = [p for p in world.pods() if not p["metadata"].get("deletionTimestamp")]
    assert {p["metadata"]["labels"]["modelship.io/version"] for p in live} == {"1"}

    # The route appears: the rollout starts, with its weights.
    world.cluster.apply(http_route(), namespace=world.namespace)
    world.wait_status(rollout_at("Paused", 1), "the canary of version 2 at step 1", timeout=90)
    wait_weights(world, (80, 20), "step 1 (20%)")
    stalled = world.wait_status(
        lambda s: condition_of(s, "Stalled").get("status") == "False", "no longer Stalled"
    )
    assert condition_of(stalled, "Reconciling")["status"] == "True"
