"""The chart's rendered manifests are accepted by a real API server (`kubectl apply
--dry-run=server`: schema validation, admission, RBAC object checks) for the ways platform
teams install it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modelship.dev.cluster import wait_established
from tests.cluster_fixtures import KubeCluster
from tests.unit.chart.helm import CHART, render

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def watched(cluster: KubeCluster) -> Iterator[list[str]]:
    """Two namespaces to watch, and kopf's peering kinds installed as helm installs crds/."""
    cluster.kubectl("apply", "--server-side", "-f", str(CHART / "crds" / "kopf-peerings.yaml"))
    for name in ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
        wait_established(cluster.kubeconfig, name, timeout=30)
    names = [f"t-{secrets.token_hex(4)}" for _ in range(3)]
    for name in names:
        cluster.kubectl("create", "namespace", name)
    yield names
    for name in names:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def dry_run(cluster: KubeCluster, objects: list[dict[str, Any]]) -> str:
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(objects), check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "three replicas on the Lease, cluster-wide": {"replicas": 3},
    "namespaced with two replicas and network policy": {
        "replicas": 2,
        "rbac": {"namespaced": True},
        "watchNamespaces": ["WATCHED0", "WATCHED1"],
        "networkPolicy": {"enabled": True, "egress": [{"ports": [{"port": 443}]}]},
    },
    "cluster rbac, some namespaces, no metrics service": {
        "watchNamespaces": ["WATCHED0"],
        "metrics": {"service": {"enabled": False}},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}},
    },
}


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_rendered_manifests_pass_server_side_dry_run(
    cluster: KubeCluster, watched: list[str], case: str
) -> None:
    release_namespace = watched[2]
    values = yaml.safe_load(
        yaml.safe_dump(VALUE_SETS[case])
        .replace("WATCHED0", watched[0])
        .replace("WATCHED1", watched[1])
    )
    objects = render(
        values,
        release=f"dry-{secrets.token_hex(3)}",
        namespace=release_namespace,
        include_crds=True,
    )
    output = dry_run(cluster, objects)
    # One "<kind>/<name> created|configured|unchanged (server dry run)" line per object.
    assert output.count("(server dry run)") == len(objects), output
