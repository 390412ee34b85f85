"""One reconcile as a plan: what to apply, the status patch, the Events."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.api import SpecError
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.deployment import ServingSettings, deployed_version
from modelship.reconcile.desired import ServingObservation, ServingPlan, plan_serving
from tests.unit.reconcile.builders import (
    NOW,
    ModelDeploymentBuilder,
    deployment,
    model_deployment,
    ready_pods,
    target,
    version,
)

MD = model_deployment().replicas(2)
D1 = deployment(MD, 1).obj()


def plan(
    md: ModelDeploymentBuilder = MD,
    artifacts: list[VersionInfo] | ArtifactError | None = None,
    dep: dict[str, Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
    spec_error: SpecError | None = None,
) -> ServingPlan:
    observed = ServingObservation(
        spec=spec_error or md.spec(),
        generation=2,
        artifacts=[version(1)] if artifacts is None else artifacts,
        deployment=dep,
        pods=pods or [],
        status=status or {},
    )
    return plan_serving(md.owner(), observed, NOW, ServingSettings("registry.local/server:1"))


def kinds_and_versions(p: ServingPlan) -> list[str]:
    shown = []
    for obj in p.objects:
        deployed = deployed_version(obj) if obj["kind"] == "Deployment" else None
        shown.append(f"{obj['kind']}" + (f" v{deployed.number}" if deployed else ""))
    return shown


@pytest.mark.parametrize(
    ("p", "objects"),
    [
        pytest.param(plan(), ["Service", "Deployment v1"], id="first-version"),
        pytest.param(
            plan(artifacts=[version(1), version(2)], dep=D1, pods=ready_pods(1, 2)),
            ["Service", "Deployment v2"],
            id="new-version",
        ),
        pytest.param(plan(artifacts=[]), ["Service"], id="no-version-yet"),
        pytest.param(
            plan(md=model_deployment().pinned(9), dep=D1, pods=ready_pods(1, 2)),
            ["Service"],
            id="pinned-missing-leaves-the-serving-deployment-alone",
        ),
        pytest.param(
            plan(artifacts=ArtifactError("StorageUnavailable", "down."), dep=D1),
            ["Service", "Deployment v1"],
            id="store-down-keeps-the-deployed-version",
        ),
        pytest.param(
            plan(artifacts=ArtifactError("SecretNotFound", "no Secret."), dep=None),
            ["Service"],
            id="missing-secret-nothing-deployed-yet",
        ),
        pytest.param(
            plan(spec_error=SpecError("spec.model", "MissingField", "x"), dep=D1),
            [],
            id="bad-spec-touches-nothing",
        ),
    ],
)
def test_what_gets_applied(p: ServingPlan, objects: list[str]) -> None:
    assert kinds_and_versions(p) == objects


def test_spec_changes_apply_while_the_store_is_down() -> None:
    p = plan(
        md=model_deployment().replicas(5),
        artifacts=ArtifactError("StorageUnavailable", "down."),
        dep=D1,
    )
    (dep,) = [o for o in p.objects if o["kind"] == "Deployment"]
    assert dep["spec"]["replicas"] == 5
    assert deployed_version(dep) == target(1)


def test_the_operator_default_image_is_used() -> None:
    (dep,) = [o for o in plan().objects if o["kind"] == "Deployment"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/server:1"


def test_a_plan_is_idempotent() -> None:
    first = plan(artifacts=[version(1), version(2)], dep=D1, pods=ready_pods(1, 2))
    assert first == plan(artifacts=[version(1), version(2)], dep=D1, pods=ready_pods(1, 2))
    settled = plan(
        artifacts=[version(1), version(2)], dep=D1, pods=ready_pods(1, 2), status=first.status
    )
    assert settled.objects == first.objects
    assert settled.status == first.status
    assert settled.status_patch == {}
    assert settled.events == ()


def test_the_first_plan_patches_the_whole_status_and_announces_problems() -> None:
    p = plan(md=model_deployment().pinned(4))
    assert p.status_patch == p.status
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "VersionNotFound")]
