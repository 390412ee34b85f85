"""Several operator replicas, as the chart runs them with `replicas > 1`: kopf peering
through the chart's KopfPeering object, on the chart's RBAC, leaves exactly one replica
acting on ModelDeployments.

kopf pauses every peer when two share a priority, so this needs each replica of
`modelship run --peering` to pick its own priority (controller/main.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster_fixtures import KubeCluster, OperatorProcess, wait_for
from tests.unit.chart.helm import CHART, only, render
from tests.unit.chart.served_model import model_deployment, publish_version, s3_secret

pytestmark = pytest.mark.integration

RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "KopfPeering")


@pytest.fixture
def operator_namespace(cluster: KubeCluster) -> Iterator[str]:
    name = f"t-{secrets.token_hex(4)}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def handled(operator: OperatorProcess) -> bool:
    return "Handler 'model_deployment_changed' succeeded" in operator.output()


def resumed(operator: OperatorProcess) -> bool:
    """Whether the replica works now: kopf's last word on it was resuming, not pausing
    (both may resume for a moment at start, before they see each other)."""
    log = operator.output()
    return log.rfind("Resuming operations after the pause") > log.rfind("Pausing operations")


def test_two_replicas_peer_and_one_of_them_acts(
    cluster: KubeCluster,
    namespace: str,
    operator_namespace: str,
    run_operator: Callable[..., OperatorProcess],
    s3_server: Any,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(CHART / "crds" / "kopf-peerings.yaml"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=30s", "crd/kopfpeerings.kopf.dev"
    )
    objects = render(
        {"replicas": 2, "rbac": {"namespaced": True}, "watchNamespaces": [namespace]},
        namespace=operator_namespace,
    )
    cluster.apply(*[o for o in objects if o["kind"] in RBAC_KINDS])
    account = only(objects, "ServiceAccount")["metadata"]["name"]
    kubeconfig = cluster.kubeconfig_for_serviceaccount(
        operator_namespace, account, tmp_path / "operator.kubeconfig"
    )
    container = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    peering = [a for a in container["args"] if a.startswith("--peering")]
    env = {
        "MODELSHIP_BIND_ADDRESS": "127.0.0.1",
        "MODELSHIP_METRICS_PORT": "0",
        "MODELSHIP_HEALTH_PORT": "0",
        "MODELSHIP_NAMESPACES": namespace,
    }
    replicas = [
        run_operator(*peering, kubeconfig=kubeconfig, env={**env, "POD_ID": f"pod-{i}"})
        for i in range(2)
    ]

    # Both replicas announce themselves in the peering object; only one takes up the work.
    def peers() -> list[str]:
        obj = cluster.get("kopfpeering", "modelship", namespace) or {}
        return sorted((obj.get("status") or {}).keys())

    wait_for(lambda: peers() == ["pod-0", "pod-1"], timeout=60, what="both replicas peering")
    wait_for(
        lambda: [resumed(r) for r in replicas].count(True) == 1,
        timeout=60,
        what="one replica taking up the work:\n" + "\n".join(r.output()[-1500:] for r in replicas),
    )

    uri = publish_version(s3_server, s3_bucket, "digits", tmp_path / "model")
    cluster.apply(
        s3_secret(s3_server), model_deployment("digits", uri, s3_server), namespace=namespace
    )

    def status() -> dict[str, Any] | None:
        md = cluster.get("modeldeployment", "digits", namespace) or {}
        return md.get("status") if md.get("status", {}).get("observedGeneration") else None

    wait_for(status, timeout=60, what="the ModelDeployment's status")
    (active,) = [r for r in replicas if resumed(r)]
    assert handled(active)
    assert not any(handled(r) for r in replicas if r is not active)
