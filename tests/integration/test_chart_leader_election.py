"""Several operator replicas, as the chart runs them: on the chart's own RBAC they meet on one
coordination.k8s.io Lease in the release namespace, exactly one acts, and when it is killed
(SIGKILL: no chance to release the Lease) the standby takes over within 15 s, with no object
made twice and no status lost."""

from __future__ import annotations

import secrets
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.dev.s3 import free_port
from tests.cluster_fixtures import KubeCluster, OperatorProcess, wait_for
from tests.integration.counters import scrape, total
from tests.integration.operator_env import ModelWorld, is_ready_with
from tests.unit.chart.helm import only, render

pytestmark = pytest.mark.integration

RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


@pytest.fixture
def operator_namespace(cluster: KubeCluster) -> Iterator[str]:
    name = f"t-{secrets.token_hex(4)}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def holder(cluster: KubeCluster, namespace: str) -> str:
    lease = cluster.get("lease", "modelship", namespace) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def leading(port: int) -> bool:
    try:
        return total(scrape(port), "modelship_leader") == 1
    except OSError:
        return False


def test_the_standby_takes_over_within_15s_when_the_leader_is_killed(
    world: ModelWorld,
    operator_namespace: str,
    run_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    cluster = world.cluster
    release = f"le-{secrets.token_hex(3)}"
    objects = render(
        {"rbac": {"namespaced": True}, "watchNamespaces": [world.namespace]},
        release=release,
        namespace=operator_namespace,
    )
    cluster.apply(*[o for o in objects if o["kind"] in RBAC_KINDS])
    account = only(objects, "ServiceAccount")["metadata"]["name"]
    kubeconfig = cluster.kubeconfig_for_serviceaccount(
        operator_namespace, account, tmp_path / "operator.kubeconfig"
    )
    container = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    election = [a for a in container["args"] if a.startswith(("--leader-election", "--lease"))]
    assert election, container["args"]
    ports = [free_port(), free_port()]
    health = [free_port(), free_port()]
    replicas = [
        run_operator(
            *election,
            kubeconfig=kubeconfig,
            env={
                "MODELSHIP_BIND_ADDRESS": "127.0.0.1",
                "MODELSHIP_METRICS_PORT": str(port),
                "MODELSHIP_HEALTH_PORT": str(health[i]),
                "MODELSHIP_NAMESPACES": world.namespace,
                "POD_NAME": f"op-{i}",
                "POD_NAMESPACE": operator_namespace,
            },
        )
        for i, port in enumerate(ports)
    ]
    world.operator = replicas[0]
    world.publish()
    cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    before_kill = world.wait_status(is_ready_with(1), "Ready on version 1")

    name = wait_for(lambda: holder(cluster, operator_namespace), what="a Lease holder")
    (leader,) = [i for i in range(2) if name.startswith(f"op-{i}_")]
    standby = 1 - leader
    world.operator = replicas[leader]
    wait_for(lambda: leading(ports[leader]), timeout=10, what="the leader's own word")
    assert not leading(ports[standby])
    # Both are ready (the chart's readiness probe): one to act, one to take over.
    assert readiness(health[leader]) == (200, "leader")
    assert readiness(health[standby]) == (200, "standby")
    # Only the leader acted: the standby wrote nothing (its reads come from its watches).
    assert total(scrape(ports[standby]), "modelship_api_requests_total", verb="PATCH") == 0

    replicas[leader].process.send_signal(signal.SIGKILL)
    replicas[leader].process.wait()
    killed = time.monotonic()
    world.operator = replicas[standby]
    world.publish()  # version 2: only a working leader rolls it out
    wait_for(lambda: leading(ports[standby]), timeout=20, what="the standby taking over")
    takeover = time.monotonic() - killed
    assert takeover <= 15, f"takeover took {takeover:.1f}s"
    assert holder(cluster, operator_namespace).startswith(f"op-{standby}_")
    world.wait_status(is_ready_with(2), "Ready on version 2 under the new leader", timeout=40)

    # One of each object, and what the status said before the kill is all still there.
    assert len(cluster.list("deployments", world.namespace)) == 1
    assert len(cluster.list("services", world.namespace)) == 1
    status = world.status()
    assert set(before_kill) <= set(status)
    assert status["endpoint"] == before_kill["endpoint"]
    print(f"takeover after SIGKILL of the leader: {takeover:.1f}s")


def test_the_leader_releases_the_lease_when_stopped_so_the_standby_need_not_wait(
    cluster: KubeCluster,
    namespace: str,
    run_operator: Callable[..., OperatorProcess],
) -> None:
    env: dict[str, Any] = {
        "MODELSHIP_BIND_ADDRESS": "127.0.0.1",
        "MODELSHIP_HEALTH_PORT": "0",
        "MODELSHIP_NAMESPACES": namespace,
        "POD_NAMESPACE": namespace,
    }
    ports = [free_port(), free_port()]
    first = run_operator(
        "--leader-election", env={**env, "MODELSHIP_METRICS_PORT": str(ports[0]), "POD_NAME": "a"}
    )
    wait_for(lambda: leading(ports[0]), timeout=30, what="the first replica leading")
    run_operator(
        "--leader-election", env={**env, "MODELSHIP_METRICS_PORT": str(ports[1]), "POD_NAME": "b"}
    )
    wait_for(lambda: holder(cluster, namespace) and _serves(ports[1]), what="the second replica")
    assert not leading(ports[1])
    first.stop()  # SIGTERM: a clean shutdown, as in a rolling update
    stopped = time.monotonic()
    wait_for(lambda: leading(ports[1]), timeout=15, what="the standby leading")
    assert time.monotonic() - stopped < 6  # well before the 10 s lease would have expired


def readiness(port: int) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
        return response.status, response.read().decode()


def _serves(port: int) -> bool:
    try:
        scrape(port)
        return True
    except OSError:
        return False
