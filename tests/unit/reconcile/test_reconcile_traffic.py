"""Gateway API traffic (spec.rollout.traffic: GatewayAPI): the canary's exact weight in each
phase, the Services' versions, when the route is read, what is wrong with a route, and the
JSON Patch that writes only the two weights."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelship.api import SpecError, parse_spec
from modelship.reconcile.desired import ServingObservation, ServingPlan, plan_serving
from modelship.reconcile.findings import Finding
from modelship.reconcile.traffic import (
    canary_weight,
    route_not_found,
    route_wanted,
    service_versions,
    weight_patch,
    written_weights,
)
from tests.unit.reconcile.builders import (
    NAMESPACE,
    NOW,
    deployment,
    model_deployment,
    pod,
    ready_pods,
    target,
    version,
)

STEPS = parse_spec(
    {
        "model": {"storageUri": "s3://models/digits"},
        "rollout": {
            "strategy": "Canary",
            "steps": [{"weight": 20, "pause": "1m"}, {"weight": 50}],
            "traffic": "GatewayAPI",
            "httpRoute": {"name": "web"},
        },
    },
    name="digits",
).rollout.steps

GATEWAY_MD = model_deployment().replicas(4)
GATEWAY_MD._spec["rollout"] = {
    "strategy": "Canary",
    "steps": [{"weight": 20, "pause": "1m"}, {"weight": 50}],
    "traffic": "GatewayAPI",
    "httpRoute": {"name": "web"},
}


def rollout(phase: str, step: int = 1, *, reached: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {
        "strategy": "Canary",
        "phase": phase,
        "step": step,
        "steps": 2,
        "stableVersion": 1,
        "canaryVersion": 2,
        "canaryDigest": target(2).digest,
        "startedAt": "2025-05-01T11:00:00Z",
        "stepStartedAt": "2025-05-01T11:50:00Z",
    }
    if reached:
        status["stepReachedAt"] = "2025-05-01T11:51:00Z"
    return status


def route(*rules: list[dict[str, Any]], name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "7"},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [{"matches": [{"path": {"value": f"/r{i}"}}], "backendRefs": refs}
                      for i, refs in enumerate(rules)],
        },
    }  # fmt: skip


def ref(name: str, weight: int | None = None, **more: Any) -> dict[str, Any]:
    backend: dict[str, Any] = {"name": name, "port": 8501, **more}
    if weight is not None:
        backend["weight"] = weight
    return backend


def apply_json_patch(obj: dict[str, Any], operations: Any) -> dict[str, Any]:
    """The two operations weight_patch uses, as the API server applies them."""
    result = json.loads(json.dumps(obj))
    for operation in operations:
        *parents, last = operation["path"].strip("/").split("/")
        node: Any = result
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if operation["op"] == "test":
            assert node[last] == operation["value"], "the test operation refuses the patch"
        else:
            assert operation["op"] == "add"
            node[last] = operation["value"]
    return result


def weights_of(obj: dict[str, Any], rule: int = 0) -> dict[str, int]:
    return {r["name"]: r.get("weight", 1) for r in obj["spec"]["rules"][rule]["backendRefs"]}


@pytest.mark.parametrize(
    ("status", "weight"),
    [
        ({}, 0),
        (rollout("Progressing", 1), 0),  # the canary's pods are not Ready yet: no traffic
        (rollout("Progressing", 1, reached=True), 20),
        (rollout("Progressing", 2), 20),  # step 2's pods starting: step 1's weight stays
        (rollout("Paused", 2, reached=True), 50),
        (rollout("Promoting", 2), 100),  # the stable pods are about to go
        (rollout("Promoted", 2), 0),
        (rollout("RolledBack", 2), 0),
        (rollout("Aborted", 1, reached=True), 0),
        (rollout("Paused", 9, reached=True), 50),  # steps shortened mid-rollout
    ],
)
def test_the_weight_is_the_reached_steps_weight_exactly(
    status: dict[str, Any], weight: int
) -> None:
    assert canary_weight(status, STEPS) == weight


def test_the_services_select_one_version_each_while_in_flight_and_the_serving_one_at_rest() -> None:
    assert service_versions(rollout("Paused", 2, reached=True), target(1)) == (1, 2)
    # Promoting: the stable Deployment may already run version 2; the Services still split
    # by the rollout's versions, and the canary Service keeps every pod of version 2.
    assert service_versions(rollout("Promoting", 2), target(2)) == (1, 2)
    assert service_versions(rollout("Promoted", 2), target(2)) == (2, 2)
    assert service_versions(rollout("RolledBack", 2), target(1)) == (1, 1)
    assert service_versions({}, None) == (None, None)


def test_the_patch_writes_only_the_two_weights_guarded_by_the_names_it_expects() -> None:
    before = route(
        [ref("digits-stable"), ref("other", 5), ref("digits-canary")],
        [ref("static-site")],
    )
    operations = weight_patch(before, "digits", 20)
    assert not isinstance(operations, Finding)
    assert {op["op"] for op in operations} == {"test", "add"}
    after = apply_json_patch(before, operations)
    assert weights_of(after) == {"digits-stable": 80, "other": 5, "digits-canary": 20}
    # Everything else the user wrote is untouched.
    assert after["spec"]["rules"][1] == before["spec"]["rules"][1]
    assert after["spec"]["rules"][0]["matches"] == before["spec"]["rules"][0]["matches"]
    assert after["spec"]["parentRefs"] == before["spec"]["parentRefs"]
    assert weight_patch(after, "digits", 20) == ()


def test_every_rule_naming_both_services_gets_the_weights() -> None:
    before = route(
        [ref("digits-stable", 100), ref("digits-canary", 0)],
        [ref("digits-canary", 0), ref("digits-stable", 100)],
    )
    after = apply_json_patch(before, weight_patch(before, "digits", 50))
    assert (
        weights_of(after, 0) == weights_of(after, 1) == {"digits-stable": 50, "digits-canary": 50}
    )


def test_a_reordered_route_refuses_the_patch_made_for_the_old_order() -> None:
    before = route([ref("digits-stable", 100), ref("digits-canary", 0)])
    operations = weight_patch(before, "digits", 20)
    reordered = route([ref("digits-canary", 0), ref("digits-stable", 100)])
    with pytest.raises(AssertionError, match="refuses"):
        apply_json_patch(reordered, operations)


@pytest.mark.parametrize(
    "refs",
    [
        [ref("digits-stable")],
        [ref("digits-stable"), ref("digits-canary", namespace="elsewhere")],
        [ref("digits-stable"), ref("digits-canary", kind="ServiceImport", group="multicluster")],
        [],
    ],
)
def test_a_route_without_both_backends_is_a_problem_a_person_fixes(
    refs: list[dict[str, Any]],
) -> None:
    found = weight_patch(route(refs), "digits", 20)
    assert isinstance(found, Finding) and found.reason == "HTTPRouteBackendsMissing"
    assert "web" in found.message and "digits-canary" in found.message


def test_a_404_says_whether_the_route_or_the_gateway_api_is_missing() -> None:
    missing_route = json.dumps(
        {
            "kind": "Status",
            "reason": "NotFound",
            "details": {"name": "web", "group": "gateway.networking.k8s.io", "kind": "httproutes"},
            "code": 404,
        }
    )
    found = route_not_found("web", missing_route)
    assert found.reason == "HTTPRouteNotFound" and "HTTPRoute web" in found.message
    assert found.needs_person
    no_crd = route_not_found("web", "404 page not found\n")
    assert no_crd.reason == "GatewayAPINotInstalled" and "web" in no_crd.message


def test_the_route_is_read_only_while_a_rollout_needs_it() -> None:
    spec = GATEWAY_MD.spec()
    at_rest = {"rollout": {"phase": "Promoted", "httpRoute": written_weights("web", 0)}}
    assert not route_wanted(spec, at_rest)
    assert route_wanted(spec, {"rollout": rollout("Paused", 2, reached=True)})
    # The rollout ended but the route still carries its last step's weights.
    ended = {"rollout": {"phase": "RolledBack", "httpRoute": written_weights("web", 50)}}
    assert route_wanted(spec, ended)
    # Never written (first version, or the route renamed in the spec).
    assert route_wanted(spec, {})
    assert route_wanted(spec, {"rollout": {"httpRoute": written_weights("old", 0)}})
    replicas = model_deployment().spec()
    assert not route_wanted(replicas, {"rollout": rollout("Paused", 2)})
    assert not route_wanted(SpecError("InvalidValue", "x", "y"), {})


def _plan(
    http_route: dict[str, Any] | Finding | None,
    status: dict[str, Any],
    pods: list[dict[str, Any]],
    canary: bool = True,
) -> ServingPlan:
    stable = deployment(GATEWAY_MD, 1).obj()
    # The stable Deployment asks for the pods it has (under Fixed, it gave the canary's up).
    stable["spec"]["replicas"] = sum(
        1 for p in pods if "modelship.io/track" not in p["metadata"]["labels"]
    )
    observed = ServingObservation(
        spec=GATEWAY_MD.spec(),
        generation=1,
        artifacts=[version(1), version(2)],
        deployment=stable,
        pods=pods,
        status=status,
        canary_deployment=deployment(GATEWAY_MD, 2).obj() if canary else None,
        http_route=http_route,
    )
    return plan_serving(GATEWAY_MD.owner(), observed, NOW)


def _canary_pods(count: int) -> list[dict[str, Any]]:
    pods = []
    for i in range(count):
        canary = pod(f"digits-canary-{i}").version(2).obj()
        canary["metadata"]["labels"]["modelship.io/track"] = "canary"
        pods.append(canary)
    return pods


def _selectors(plan: ServingPlan) -> dict[str, str | None]:
    return {
        o["metadata"]["name"]: o["spec"]["selector"].get("modelship.io/version")
        for o in plan.objects
        if o["kind"] == "Service"
    }


def test_a_reached_step_patches_the_route_to_its_weight_exactly() -> None:
    status = {"currentVersion": 1, "rollout": rollout("Progressing", 1)}
    # 1 canary pod of 4 replicas (ceil(4 x 20%)), 3 stable: by replicas it would be 25%.
    plan = _plan(route([ref("digits-stable"), ref("digits-canary")]), status, [
        *ready_pods(1, 3), *_canary_pods(1)])  # fmt: skip

    assert plan.status["rollout"]["step"] == 1 and plan.status["rollout"]["stepReachedAt"]
    assert plan.route_patch is not None and plan.route_patch.name == "web"
    patched = apply_json_patch(route([ref("digits-stable"), ref("digits-canary")]),
                               plan.route_patch.operations)  # fmt: skip
    assert weights_of(patched) == {"digits-stable": 80, "digits-canary": 20}
    assert plan.status["rollout"]["weight"] == 20
    assert plan.status["rollout"]["httpRoute"] == written_weights("web", 20)
    assert _selectors(plan) == {"digits": None, "digits-stable": "1", "digits-canary": "2"}
    # The Services come before the Deployments (the controller writes the route between).
    kinds = [o["kind"] for o in plan.objects]
    assert kinds.index("Deployment") > max(i for i, k in enumerate(kinds) if k == "Service")


def test_after_promotion_the_stable_service_selects_the_new_version_with_every_request() -> None:
    promoting = {**rollout("Promoting", 2), "httpRoute": written_weights("web", 100)}
    observed = ServingObservation(
        spec=GATEWAY_MD.spec(),
        generation=1,
        artifacts=[version(1), version(2)],
        deployment=deployment(GATEWAY_MD, 2).obj(),
        pods=ready_pods(2, 4),
        status={"currentVersion": 1, "rollout": promoting},
        canary_deployment=None,
        http_route=route([ref("digits-stable", 0), ref("digits-canary", 100)]),
    )
    plan = plan_serving(GATEWAY_MD.owner(), observed, NOW)

    assert plan.status["rollout"]["phase"] == "Promoted"
    assert _selectors(plan) == {"digits": None, "digits-stable": "2", "digits-canary": "2"}
    assert plan.route_patch is not None
    patched = apply_json_patch(
        route([ref("digits-stable", 0), ref("digits-canary", 100)]), plan.route_patch.operations
    )
    assert weights_of(patched) == {"digits-stable": 100, "digits-canary": 0}
    assert plan.status["rollout"]["httpRoute"] == written_weights("web", 0)
    assert not route_wanted(GATEWAY_MD.spec(), plan.status)


def test_a_missing_route_keeps_the_rollout_from_starting_and_stalls() -> None:
    missing = route_not_found("web", json.dumps({"details": {"name": "web", "kind": "httproutes"}}))
    plan = _plan(missing, {"currentVersion": 1}, ready_pods(1, 4), canary=False)

    assert plan.route_patch is None
    assert (plan.status.get("rollout") or {}).get("phase") is None
    assert not any(o["metadata"]["name"] == "digits-canary" and o["kind"] == "Deployment"
                   for o in plan.objects)  # fmt: skip
    stable = next(o for o in plan.objects if o["metadata"]["name"] == "digits-serving")
    assert stable["spec"]["replicas"] == 4
    assert stable["spec"]["template"]["metadata"]["labels"]["modelship.io/version"] == "1"
    stalled = next(c for c in plan.status["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "HTTPRouteNotFound"
    assert "HTTPRoute web" in stalled["message"]
    assert plan.status["currentVersion"] == 1


def test_a_route_lost_mid_rollout_holds_the_step() -> None:
    missing = route_not_found("web", json.dumps({"details": {"name": "web", "kind": "httproutes"}}))
    held = {**rollout("Progressing", 1, reached=True), "httpRoute": written_weights("web", 20)}
    status = {"currentVersion": 1, "rollout": held}
    # The pause of step 1 (1m) is long over: without the route it would move to step 2.
    plan = _plan(missing, status, [*ready_pods(1, 3), *_canary_pods(1)])

    assert plan.status["rollout"]["step"] == 1
    assert plan.status["rollout"]["reason"] == "HTTPRouteNotFound"
    assert plan.status["rollout"]["weight"] == 20  # what the route last got
    assert plan.route_patch is None


def test_an_abort_sets_every_request_back_on_the_stable_version() -> None:
    status = {
        "currentVersion": 1,
        "rollout": {**rollout("Paused", 2, reached=True), "httpRoute": written_weights("web", 50)},
    }
    observed = ServingObservation(
        spec=GATEWAY_MD.spec(),
        generation=1,
        artifacts=[version(1), version(2)],
        deployment=deployment(GATEWAY_MD, 1).obj(),
        pods=[*ready_pods(1, 2), *_canary_pods(2)],
        status=status,
        canary_deployment=deployment(GATEWAY_MD, 2).obj(),
        annotations={"modelship.io/abort": "now"},
        http_route=route([ref("digits-stable", 50), ref("digits-canary", 50)]),
    )
    plan = plan_serving(GATEWAY_MD.owner(), observed, NOW)

    assert plan.status["rollout"]["phase"] == "Aborted"
    assert plan.route_patch is not None
    patched = apply_json_patch(
        route([ref("digits-stable", 50), ref("digits-canary", 50)]), plan.route_patch.operations
    )
    assert weights_of(patched) == {"digits-stable": 100, "digits-canary": 0}
    assert _selectors(plan)["digits-stable"] == "1"
