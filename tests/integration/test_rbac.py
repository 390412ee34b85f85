"""The chart's RBAC judged by the API server's real authorizer: the operator's ServiceAccount
can do everything the operator does and nothing it does not, cluster-wide and namespaced; and
the operator serves and trains on exactly those credentials."""

from __future__ import annotations

import importlib.util
import secrets
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelship.dev.binaries import binary
from modelship.dev.cluster import wait_established
from modelship.dev.gatewayapi import install_gateway_api
from modelship.dev.simulation import TRAINER_EXIT_ANNOTATION, TRAINER_IMAGE
from tests.cluster_fixtures import KubeCluster, wait_for
from tests.unit.chart.helm import CHART, render
from tests.unit.chart.permissions import (
    IN_WATCHED_NAMESPACE,
    NEVER,
    Permission,
    leader_election_permissions,
)
from tests.unit.chart.served_model import (
    model_deployment,
    publish_version,
    s3_secret,
)

pytestmark = pytest.mark.integration

RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
CLUSTER_SCOPED = {
    ("", "namespaces"),
    ("kopf.dev", "clusterkopfpeerings"),
    ("", "nodes"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("", "users"),
}

needs_controller = pytest.mark.skipif(
    importlib.util.find_spec("modelship.controller.modeldeployment") is None,
    reason="needs the operator's controller (modelship.controller.modeldeployment), "
    "not written yet",
)


@pytest.fixture(scope="module", autouse=True)
def peering_crds(cluster: KubeCluster) -> None:
    """kopf's peering kinds, as the chart's crds/ installs them (kubectl resolves names
    through discovery, so they must exist to be asked about)."""
    cluster.kubectl("apply", "--server-side", "-f", str(CHART / "crds" / "kopf-peerings.yaml"))
    for name in ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
        wait_established(cluster.kubeconfig, name, timeout=30)


@pytest.fixture(scope="module", autouse=True)
def gateway_api_crds(cluster: KubeCluster) -> None:
    """The Gateway API's kinds (the operator patches HTTPRoutes' weights), for the same
    reason: kubectl asks about a kind only once discovery knows it."""
    install_gateway_api(cluster.kubeconfig)


@dataclass(frozen=True)
class OperatorIdentity:
    """The chart's ServiceAccount installed with its RBAC, and a kubeconfig that is only it."""

    namespace: str
    kubeconfig: Path


def create_namespace(cluster: KubeCluster, created: list[str]) -> str:
    name = f"t-{secrets.token_hex(4)}"
    cluster.kubectl("create", "namespace", name)
    created.append(name)
    return name


@pytest.fixture
def namespaces(cluster: KubeCluster) -> Iterator[Callable[[], str]]:
    """Makes extra fresh namespaces; all deleted (without waiting) after the test."""
    created: list[str] = []
    yield lambda: create_namespace(cluster, created)
    for name in created:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def install_rbac(
    cluster: KubeCluster, tmp_path: Path
) -> Iterator[Callable[[dict[str, Any], str], OperatorIdentity]]:
    """Applies only the ServiceAccount and RBAC the chart renders (helm template | kubectl
    apply) and returns the ServiceAccount's identity; cluster-scoped objects are removed after."""
    cluster_scoped: list[dict[str, Any]] = []

    def install(values: dict[str, Any], namespace: str) -> OperatorIdentity:
        release = f"rbac-{secrets.token_hex(3)}"
        objects = [
            o
            for o in render(values, release=release, namespace=namespace)
            if o["kind"] in RBAC_KINDS
        ]
        cluster.apply(*objects)
        cluster_scoped.extend(o for o in objects if o["kind"].startswith("Cluster"))
        (account,) = [o for o in objects if o["kind"] == "ServiceAccount"]
        kubeconfig = cluster.kubeconfig_for_serviceaccount(
            namespace, account["metadata"]["name"], tmp_path / f"{release}.kubeconfig"
        )
        return OperatorIdentity(namespace, kubeconfig)

    yield install
    for obj in cluster_scoped:
        cluster.kubectl("delete", obj["kind"], obj["metadata"]["name"], "--wait=false", check=False)


def can_i(identity: OperatorIdentity, permission: Permission, namespace: str | None) -> bool:
    """`kubectl auth can-i` as the operator's ServiceAccount (None = across all namespaces)."""
    where = ["--all-namespaces"] if namespace is None else ["--namespace", namespace]
    if (permission.group, permission.resource) in CLUSTER_SCOPED:
        where = []
    result = subprocess.run(
        [
            str(binary("kubectl")),
            "--kubeconfig",
            str(identity.kubeconfig),
            "auth",
            "can-i",
            *permission.can_i_args(),
            *where,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl auth can-i failed: {result.stderr}"
    return answer == "yes"


def answers(
    identity: OperatorIdentity, permissions: tuple[Permission, ...], namespace: str | None
) -> dict[Permission, bool]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda p: can_i(identity, p, namespace), permissions)
        return dict(zip(permissions, results, strict=True))


def denied(
    identity: OperatorIdentity, permissions: tuple[Permission, ...], namespace: str | None
) -> list[Permission]:
    return [p for p, allowed in answers(identity, permissions, namespace).items() if not allowed]


def allowed(
    identity: OperatorIdentity, permissions: tuple[Permission, ...], namespace: str | None
) -> list[Permission]:
    return [p for p, yes in answers(identity, permissions, namespace).items() if yes]


def test_cluster_wide_rbac_allows_what_the_operator_does_everywhere_and_nothing_else(
    cluster: KubeCluster,
    namespace: str,
    namespaces: Callable[[], str],
    install_rbac: Callable[[dict[str, Any], str], OperatorIdentity],
) -> None:
    identity = install_rbac({"replicas": 2}, namespace)
    somewhere = namespaces()
    assert denied(identity, IN_WATCHED_NAMESPACE, somewhere) == []
    listing = tuple(p for p in IN_WATCHED_NAMESPACE if p.verb in ("list", "watch"))
    assert denied(identity, listing, None) == []
    assert allowed(identity, NEVER, somewhere) == []
    # The Lease: its own, in its own namespace only.
    assert denied(identity, leader_election_permissions(), namespace) == []
    other_lease = Permission("coordination.k8s.io", "leases", "update", name="someone-else")
    assert allowed(identity, (other_lease,), namespace) == []
    assert allowed(identity, leader_election_permissions(), somewhere) == []


def test_namespaced_rbac_allows_only_inside_the_watched_namespaces(
    cluster: KubeCluster,
    namespace: str,
    namespaces: Callable[[], str],
    install_rbac: Callable[[dict[str, Any], str], OperatorIdentity],
) -> None:
    team_a, team_b, unwatched = namespaces(), namespaces(), namespaces()
    identity = install_rbac(
        {"replicas": 2, "rbac": {"namespaced": True}, "watchNamespaces": [team_a, team_b]},
        namespace,
    )
    needed = IN_WATCHED_NAMESPACE
    for watched in (team_a, team_b):
        assert denied(identity, needed, watched) == []
    assert allowed(identity, NEVER, team_a) == []
    # Not in a namespace it does not watch (not even its own), and nothing cluster-wide.
    for elsewhere in (unwatched, namespace):
        assert allowed(identity, needed, elsewhere) == []
    assert allowed(identity, IN_WATCHED_NAMESPACE, None) == []
    assert denied(identity, leader_election_permissions(), namespace) == []


def test_reading_secrets_is_refused_outside_the_watched_namespaces(
    cluster: KubeCluster,
    namespace: str,
    namespaces: Callable[[], str],
    install_rbac: Callable[[dict[str, Any], str], OperatorIdentity],
) -> None:
    watched, unwatched = namespaces(), namespaces()
    for target in (watched, unwatched):
        cluster.kubectl(
            "create",
            "secret",
            "generic",
            "s3-credentials",
            "-n",
            target,
            "--from-literal=AWS_SECRET_ACCESS_KEY=hunter2",
        )
    identity = install_rbac({"rbac": {"namespaced": True}, "watchNamespaces": [watched]}, namespace)
    as_operator = KubeCluster(identity.kubeconfig)
    # The operator reads Secrets from a watch (list + watch) in the namespaces it watches.
    assert as_operator.list("secrets", watched)
    refused = as_operator.kubectl("get", "secrets", "-n", unwatched, check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower()


@needs_controller
@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
def test_operator_serves_and_trains_on_the_charts_credentials(
    mode: str,
    cluster: KubeCluster,
    namespace: str,
    namespaces: Callable[[], str],
    install_rbac: Callable[[dict[str, Any], str], OperatorIdentity],
    run_operator: Callable[..., Any],
    s3_server: Any,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    """The operator, given only the chart's ServiceAccount token, takes a ModelDeployment to
    Ready and runs a multi-worker training Job (Job, headless Service, pods, status) without
    one request refused."""
    watched = namespaces()
    if mode == "namespaced":
        values: dict[str, Any] = {"rbac": {"namespaced": True}, "watchNamespaces": [watched]}
        scope = ("--namespace", watched)
    else:
        values, scope = {}, ()
    identity = install_rbac(values, namespace)
    uri = publish_version(s3_server, s3_bucket, "digits", tmp_path / "model")
    md = model_deployment("digits", uri, s3_server)
    # kwok plays the trainer: its pods run until they are told the version is published.
    md["spec"]["training"] = {
        "entrypoint": "digits_train:main",
        "workers": 2,
        "image": TRAINER_IMAGE,
    }
    cluster.apply(s3_secret(s3_server), md, namespace=watched)
    operator = run_operator(
        *scope,
        kubeconfig=identity.kubeconfig,
        env={
            "MODELSHIP_BIND_ADDRESS": "127.0.0.1",
            "MODELSHIP_METRICS_PORT": "0",
            "MODELSHIP_HEALTH_PORT": "0",
        },
    )

    def status_where(check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = (cluster.get("modeldeployment", "digits", watched) or {}).get("status", {})
            return found if check(found) else None

        try:
            return wait_for(probe, timeout=90, what=what)  # type: ignore[no-any-return]
        except AssertionError:
            raise AssertionError(f"{what}; operator log:\n{operator.output()[-3000:]}") from None

    def ready(found: dict[str, Any]) -> bool:
        conditions = {c["type"]: c["status"] for c in found.get("conditions", [])}
        return conditions.get("Ready") == "True" and found.get("currentVersion") == 1

    found = status_where(ready, "Ready on version 1")
    assert found["observedGeneration"] == 1

    cluster.kubectl("annotate", "md", "digits", "modelship.io/retrain=now", "-n", watched)
    selector = "batch.kubernetes.io/job-name=digits-train-2"
    wait_for(
        lambda: len(cluster.list("pods", watched, selector)) == 2,
        timeout=60,
        what="the two pods of Job digits-train-2",
    )
    # What the trainer does at the end of its run: publish version 2, then exit.
    publish_version(s3_server, s3_bucket, "digits", tmp_path / "model")
    cluster.kubectl(
        "annotate", "pods", "-l", selector, f"{TRAINER_EXIT_ANNOTATION}=true", "-n", watched
    )
    status_where(
        lambda s: (s.get("training") or {}).get("state") == "Succeeded",
        "the training run seen as Succeeded",
    )
    assert cluster.get("job", "digits-train-2", watched) is not None
    assert cluster.get("service", "digits-train-2", watched) is not None
    assert operator.process.poll() is None, operator.output()
    # Nothing it asks the API server for is refused: kopf must not scan namespaces (which
    # no Role can grant) when it is given exact ones (settings.scanning.disabled).
    forbidden = [line for line in operator.output().splitlines() if "forbidden" in line.lower()]
    assert forbidden == [], "\n".join(forbidden[:5])
