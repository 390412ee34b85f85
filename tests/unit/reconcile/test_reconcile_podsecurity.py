"""Every pod the operator makes meets the Pod Security "restricted" profile."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.reconcile.deployment import serving_deployment
from tests.unit.reconcile.builders import ModelDeploymentBuilder, model_deployment, target


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """The checks of the restricted profile (Kubernetes Pod Security Standards) that apply to
    the fields the operator sets."""
    problems = []
    pod_context = pod_spec.get("securityContext") or {}
    if pod_spec.get("hostNetwork") or pod_spec.get("hostPID") or pod_spec.get("hostIPC"):
        problems.append("host namespaces")
    if any("hostPath" in v for v in pod_spec.get("volumes") or []):
        problems.append("hostPath volume")
    for container in [*pod_spec.get("initContainers", []), *pod_spec["containers"]]:
        name = container["name"]
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation not false")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities not dropped")
        if context.get("capabilities", {}).get("add"):
            problems.append(f"{name}: capabilities added")
        if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
            problems.append(f"{name}: may run as root")
        if 0 in (context.get("runAsUser"), pod_context.get("runAsUser")):
            problems.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get(
            "type"
        )
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: no seccomp profile")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: writable root filesystem")
        if any(p.get("hostPort") for p in container.get("ports") or []):
            problems.append(f"{name}: hostPort")
    return problems


@pytest.mark.parametrize(
    "md",
    [
        pytest.param(model_deployment(), id="cpu"),
        pytest.param(model_deployment().gpus(1, product="NVIDIA-H100-80GB-HBM3"), id="gpu"),
        pytest.param(model_deployment().secret("s3-creds").image("example.com/s:1"), id="secret"),
        pytest.param(
            model_deployment()
            .secret("s3-creds")
            .capture(mask={"inputs": ["email"], "keySecretRef": {"name": "mask", "key": "hmac"}}),
            id="capture",
        ),
    ],
)
def test_serving_pods_are_restricted(md: ModelDeploymentBuilder) -> None:
    pod_spec = serving_deployment(md.owner(), md.spec(), target(2))["spec"]["template"]["spec"]
    assert restricted_violations(pod_spec) == []
    assert pod_spec["securityContext"]["runAsUser"] == 1000
    assert pod_spec["securityContext"]["fsGroup"] == 1000
    assert pod_spec["automountServiceAccountToken"] is False


def test_the_check_itself_catches_a_root_container() -> None:
    pod_spec = {"containers": [{"name": "c", "securityContext": {"runAsUser": 0}}]}
    assert "c: runAsUser 0" in restricted_violations(pod_spec)
