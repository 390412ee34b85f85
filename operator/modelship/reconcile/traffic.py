"""Traffic through a Gateway API HTTPRoute (`spec.rollout.traffic: GatewayAPI`), as pure
functions: the canary's weight in each phase of a rollout, the versions the Services
`<md>-stable` and `<md>-canary` select, whether the route must be read at all, what is wrong
with a route, and the JSON Patch that sets its weights.

The user owns the HTTPRoute (parentRefs, hostnames, matches, filters); the operator owns only
the `weight` of the two backendRefs that name its Services. HTTPRoute's `spec.rules` and each
rule's `backendRefs` are atomic lists in the Gateway API schema, so server-side apply cannot
own one field inside them: applying them would take the whole list, the user's matches
included. The weights are written instead with a JSON Patch (RFC 6902) whose `test`
operations check, at each index written, that the backendRef still names our Service: a
route edited between the read and the write refuses the patch, and the next pass reads it
again. Every rule whose backendRefs name both Services gets the weights; other backendRefs
and other rules are left alone.

The weight is the step's weight exactly, once the step's canary pods are Ready (before that,
the previous step's weight: a Service without ready pods never gets traffic). While
promoting, every request goes to the new version (the stable pods are about to go); after
promotion, a rollback or an abort, `<md>-stable` (now selecting the version that serves)
takes it all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from modelship.api import CanaryStep, ModelDeploymentSpec, RolloutPhase, SpecError
from modelship.api.reasons import (
    GATEWAY_API_NOT_INSTALLED,
    HTTPROUTE_BACKENDS_MISSING,
    HTTPROUTE_FORBIDDEN,
    HTTPROUTE_NOT_FOUND,
)
from modelship.reconcile.findings import Finding
from modelship.reconcile.versions import TargetVersion

GATEWAY_API: Final = "GatewayAPI"
HTTPROUTE_API_VERSION: Final = "gateway.networking.k8s.io/v1"
HTTPROUTE_KIND: Final = "HTTPRoute"

_IN_FLIGHT: Final = frozenset(
    {RolloutPhase.PROGRESSING.value, RolloutPhase.PAUSED.value, RolloutPhase.PROMOTING.value}
)


def stable_service_name(md_name: str) -> str:
    return f"{md_name}-stable"


def canary_service_name(md_name: str) -> str:
    return f"{md_name}-canary"


@dataclass(frozen=True)
class RoutePatch:
    """The JSON Patch the controller sends to the HTTPRoute `name` (field manager modelship)."""

    name: str
    operations: tuple[dict[str, Any], ...]


def uses_gateway(spec: ModelDeploymentSpec | SpecError) -> bool:
    return (
        isinstance(spec, ModelDeploymentSpec)
        and spec.rollout.strategy == "Canary"
        and spec.rollout.traffic == GATEWAY_API
        and spec.rollout.http_route is not None
    )


def canary_weight(rollout: Mapping[str, Any], steps: Sequence[CanaryStep]) -> int:
    """The canary's weight on the route for status.rollout as it is (see the module
    docstring); 0 when no rollout is in flight."""
    phase = rollout.get("phase")
    if phase == RolloutPhase.PROMOTING.value:
        return 100
    if phase not in _IN_FLIGHT or not steps:
        return 0
    index = min(max(_int(rollout.get("step")) or 1, 1), len(steps))
    reached = index if rollout.get("stepReachedAt") else index - 1
    return steps[reached - 1].weight if reached >= 1 else 0


def service_versions(
    rollout: Mapping[str, Any], stable: TargetVersion | None
) -> tuple[int | None, int | None]:
    """The versions `<md>-stable` and `<md>-canary` select. By version, not by Deployment:
    while promoting, the new version's pods move from the canary Deployment to the stable one,
    and the canary Service keeps every one of them. With no rollout in flight both select the
    version that serves, so neither Service is ever a route to nothing."""
    deployed = stable.number if stable is not None else None
    if rollout.get("phase") in _IN_FLIGHT:
        stable_version = _int(rollout.get("stableVersion"))
        canary_version = _int(rollout.get("canaryVersion"))
        return (
            deployed if stable_version is None else stable_version,
            deployed if canary_version is None else canary_version,
        )
    return deployed, deployed


def written_weights(name: str, canary: int) -> dict[str, Any]:
    """status.rollout.httpRoute once the route has these weights."""
    return {"name": name, "stableWeight": 100 - canary, "canaryWeight": canary}


def route_wanted(spec: ModelDeploymentSpec | SpecError, status: Mapping[str, Any]) -> bool:
    """Whether the controller must read the HTTPRoute for this pass (given the status a pass
    without it would write): while a rollout is in flight, and until the route is known to
    carry the weights the rollout wants. A resource at rest reads nothing."""
    if not uses_gateway(spec):
        return False
    assert isinstance(spec, ModelDeploymentSpec) and spec.rollout.http_route is not None
    rollout = status.get("rollout") or {}
    if rollout.get("phase") in _IN_FLIGHT:
        return True
    weight = canary_weight(rollout, spec.rollout.steps)
    return rollout.get("httpRoute") != written_weights(spec.rollout.http_route.name, weight)


def route_not_found(name: str, response_body: str | None) -> Finding:
    """Why a GET of the HTTPRoute answered 404: the route is missing (the API server's Status
    names it), or the API server does not serve HTTPRoutes at all (no Gateway API CRDs)."""
    try:
        details = (json.loads(response_body or "") or {}).get("details") or {}
    except (ValueError, AttributeError):
        details = {}
    if details.get("kind") == "httproutes" and details.get("name") == name:
        return Finding(
            HTTPROUTE_NOT_FOUND,
            f"the HTTPRoute {name} (spec.rollout.httpRoute) does not exist in this namespace: "
            "no rollout starts until it does; the stable version keeps serving. Create it with "
            "a rule whose backendRefs name the Services of both versions, or fix "
            "spec.rollout.httpRoute.name.",
        )
    return Finding(
        GATEWAY_API_NOT_INSTALLED,
        f"spec.rollout.traffic is GatewayAPI, but the cluster does not serve "
        f"{HTTPROUTE_API_VERSION} HTTPRoutes (the Gateway API CRDs are not installed), so the "
        f"HTTPRoute {name} cannot exist: no rollout starts; the stable version keeps serving. "
        "Install the Gateway API CRDs, or set spec.rollout.traffic: Replicas.",
    )


def route_forbidden(name: str, says: str) -> Finding:
    return Finding(
        HTTPROUTE_FORBIDDEN,
        f"the operator may not read the HTTPRoute {name}: {says.rstrip('.')}. Grant it get and "
        "patch on httproutes.gateway.networking.k8s.io (the chart does); no rollout starts "
        "meanwhile.",
    )


def weight_patch(
    route: Mapping[str, Any], md_name: str, canary: int
) -> tuple[dict[str, Any], ...] | Finding:
    """The JSON Patch giving `<md>-stable` 100 - canary and `<md>-canary` canary in every rule
    that names both (empty when the route already says so), or why there is nothing to set."""
    stable_name, canary_name = stable_service_name(md_name), canary_service_name(md_name)
    namespace = (route.get("metadata") or {}).get("namespace")
    wanted = {stable_name: 100 - canary, canary_name: canary}
    operations: list[dict[str, Any]] = []
    matched = False
    for i, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        refs = rule.get("backendRefs") or []
        ours = {
            str(ref.get("name")): j
            for j, ref in enumerate(refs)
            if ref.get("name") in wanted and _is_local_service(ref, namespace)
        }
        if len(ours) != len(wanted):
            continue
        matched = True
        for name, weight in wanted.items():
            j = ours[name]
            # The schema defaults an absent weight to 1.
            if refs[j].get("weight", 1) == weight:
                continue
            path = f"/spec/rules/{i}/backendRefs/{j}"
            operations.append({"op": "test", "path": f"{path}/name", "value": name})
            operations.append({"op": "add", "path": f"{path}/weight", "value": weight})
    if not matched:
        route_name = (route.get("metadata") or {}).get("name", "?")
        return Finding(
            HTTPROUTE_BACKENDS_MISSING,
            f"the HTTPRoute {route_name} has no rule whose backendRefs name both Services "
            f"{stable_name} and {canary_name}, so the operator has no weight to set: add them "
            "to the rule that sends traffic to the model; no rollout starts until then, and the "
            "stable version keeps serving.",
        )
    return tuple(operations)


def route_problem(route: Mapping[str, Any] | Finding | None, md_name: str) -> Finding | None:
    """What keeps a rollout from starting (or a step from moving on), from what the
    controller read; None when the route was not read (nothing known against it)."""
    if route is None:
        return None
    if isinstance(route, Finding):
        return route
    found = weight_patch(route, md_name, 0)
    return found if isinstance(found, Finding) else None


def _is_local_service(ref: Mapping[str, Any], namespace: str | None) -> bool:
    return (
        ref.get("kind", "Service") == "Service"
        and ref.get("group", "") in ("", "core")
        and ref.get("namespace") in (None, namespace)
    )


def _int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None
