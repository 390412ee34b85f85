"""`helm install` and `helm upgrade` of the chart on the test bed (kwok plays the operator's
pods): an upgrade with changed values rolls the operator and leaves ModelDeployments alone,
and (once the controller exists) a served model stays Available throughout, with the real
operator process standing in for the pod before and after the upgrade."""

from __future__ import annotations

import importlib.util
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.cluster_fixtures import KubeCluster, OperatorProcess, wait_for
from tests.unit.chart.helm import CHART, run_helm
from tests.unit.chart.served_model import (
    is_available,
    model_deployment,
    publish_version,
    s3_secret,
)

pytestmark = pytest.mark.integration

needs_controller = pytest.mark.skipif(
    importlib.util.find_spec("modelship.controller.modeldeployment") is None,
    reason="needs the operator's controller (modelship.controller.modeldeployment), "
    "not written yet",
)


@dataclass
class Release:
    """One helm release of the chart, watching one namespace with namespaced RBAC."""

    cluster: KubeCluster
    name: str
    namespace: str
    watched: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def fullname(self) -> str:
        return f"{self.name}-modelship"

    def upgrade(self, **changes: Any) -> None:
        self.values = {**self.values, **changes}
        run_helm(
            "upgrade",
            self.name,
            str(CHART),
            "--namespace",
            self.namespace,
            "--wait",
            "--timeout",
            "120s",
            values=self.values,
            kubeconfig=self.cluster.kubeconfig,
            timeout=180,
        )

    def history(self) -> list[dict[str, Any]]:
        result = run_helm(
            "history",
            self.name,
            "--namespace",
            self.namespace,
            "--output",
            "json",
            kubeconfig=self.cluster.kubeconfig,
        )
        return json.loads(result.stdout)

    def operator_deployment(self) -> dict[str, Any]:
        deployment = self.cluster.get("deployment", self.fullname, self.namespace)
        assert deployment is not None, f"deployment {self.fullname} is missing"
        return deployment

    def operator_pods(self) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component=operator"
        return self.cluster.list("pods", self.namespace, selector)


@pytest.fixture(scope="module")
def release(cluster: KubeCluster) -> Iterator[Release]:
    """The chart installed once for this module with `helm install --wait`."""
    suffix = secrets.token_hex(3)
    installed = Release(
        cluster,
        f"up-{suffix}",
        f"t-ms-{suffix}",
        f"t-ml-{suffix}",
        {
            "watchNamespaces": [f"t-ml-{suffix}"],
            "rbac": {"namespaced": True},
            "logFormat": "text",
            # The session's cluster has the CRD already (kubectl apply of crds/).
            "crds": {"enabled": False},
        },
    )
    for name in (installed.namespace, installed.watched):
        cluster.kubectl("create", "namespace", name)
    run_helm(
        "install",
        installed.name,
        str(CHART),
        "--namespace",
        installed.namespace,
        "--wait",
        "--timeout",
        "120s",
        values=installed.values,
        kubeconfig=cluster.kubeconfig,
        timeout=180,
    )
    yield installed
    run_helm(
        "uninstall",
        installed.name,
        "--namespace",
        installed.namespace,
        "--wait",
        kubeconfig=cluster.kubeconfig,
        check=False,
        timeout=180,
    )
    for name in (installed.namespace, installed.watched):
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def rolled_out(deployment: dict[str, Any]) -> bool:
    status, replicas = deployment.get("status", {}), deployment["spec"]["replicas"]
    return (
        status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == replicas
        and status.get("readyReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and is_available(deployment)
    )


def test_upgrade_rolls_the_operator_and_leaves_modeldeployments_alone(
    cluster: KubeCluster, release: Release
) -> None:
    assert rolled_out(release.operator_deployment())
    md = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "survivor"},
        "spec": {"model": {"storageUri": "s3://models/survivor"}},
    }
    cluster.apply(md, namespace=release.watched)
    before = cluster.get("modeldeployment", "survivor", release.watched)
    crd_before = cluster.get("crd", "modeldeployments.modelship.io")
    assert before is not None and crd_before is not None
    revision = release.history()[-1]["revision"]

    token = secrets.token_hex(4)
    release.upgrade(
        logFormat="json",
        podAnnotations={"modelship.test/upgrade": token},
        resources={"requests": {"cpu": "150m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    )

    latest = release.history()[-1]
    assert (latest["revision"], latest["status"]) == (revision + 1, "deployed")
    deployment = release.operator_deployment()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELSHIP_LOG_FORMAT"] == "json"
    assert container["resources"]["requests"]["cpu"] == "150m"

    def new_pods_only() -> bool:
        pods = release.operator_pods()
        return (
            bool(pods)
            and rolled_out(release.operator_deployment())
            and all(
                p["metadata"]["annotations"].get("modelship.test/upgrade") == token
                and p["status"].get("phase") == "Running"
                and "deletionTimestamp" not in p["metadata"]
                for p in pods
            )
        )

    wait_for(new_pods_only, timeout=60, what="only upgraded operator pods, running")
    # The default two replicas (leader and standby), all of them the upgraded ones.
    assert len(release.operator_pods()) == 2

    after = cluster.get("modeldeployment", "survivor", release.watched)
    crd_after = cluster.get("crd", "modeldeployments.modelship.io")
    assert after is not None and crd_after is not None
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert crd_after["metadata"]["uid"] == crd_before["metadata"]["uid"]
    cluster.kubectl("delete", "modeldeployment", "survivor", "-n", release.watched, "--wait=false")


class AvailabilityWatch:
    """Samples a Deployment in the background and keeps every moment it was not serving."""

    def __init__(self, cluster: KubeCluster, namespace: str, name: str, replicas: int) -> None:
        from kubernetes import client

        self._apps = client.AppsV1Api(cluster.api)
        self._namespace, self._name, self._replicas = namespace, name, replicas
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.samples = 0
        self.outages: list[str] = []

    def _sample(self) -> None:
        while not self._stop.is_set():
            deployment = self._apps.read_namespaced_deployment(self._name, self._namespace)
            status = deployment.status
            ready = (status and status.ready_replicas) or 0
            available = any(
                c.type == "Available" and c.status == "True"
                for c in (status and status.conditions) or []
            )
            if not available or ready < self._replicas:
                self.outages.append(f"available={available} ready={ready}")
            self.samples += 1
            self._stop.wait(0.2)

    def __enter__(self) -> AvailabilityWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def start_like_the_pod(
    run_operator: Callable[..., OperatorProcess], deployment: dict[str, Any], kubeconfig: Path
) -> OperatorProcess:
    """`modelship run` with the operator container's arguments and environment, as the
    pod's ServiceAccount, its endpoints on loopback (kwok runs no container)."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["modelship", "run"]
    args = [a for a in container["args"] if not a.startswith(("--metrics-port", "--health-port"))]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env.update(
        {
            "MODELSHIP_BIND_ADDRESS": "127.0.0.1",
            "MODELSHIP_METRICS_PORT": "0",
            "MODELSHIP_HEALTH_PORT": "0",
            # What the pod's fieldRefs give it: its name, and its namespace (the Lease's).
            "POD_NAME": f"{deployment['metadata']['name']}-like-the-pod",
            "POD_NAMESPACE": deployment["metadata"]["namespace"],
        }
    )
    return run_operator(*args, kubeconfig=kubeconfig, env=env)


def ready_condition(cluster: KubeCluster, namespace: str, name: str) -> dict[str, Any] | None:
    md = cluster.get("modeldeployment", name, namespace) or {}
    status = md.get("status", {})
    if status.get("observedGeneration") != md.get("metadata", {}).get("generation"):
        return None
    return next(
        (c for c in status.get("conditions", []) if c["type"] == "Ready" and c["status"] == "True"),
        None,
    )


@needs_controller
def test_upgrade_keeps_modeldeployments_serving(
    cluster: KubeCluster,
    release: Release,
    run_operator: Callable[..., OperatorProcess],
    s3_server: Any,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    account = release.operator_deployment()["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = cluster.kubeconfig_for_serviceaccount(
        release.namespace, account, tmp_path / "operator.kubeconfig"
    )
    uri = publish_version(s3_server, s3_bucket, "digits", tmp_path / "model")
    cluster.apply(
        s3_secret(s3_server),
        model_deployment("digits", uri, s3_server, replicas=2),
        namespace=release.watched,
    )
    release.upgrade(logFormat="text")
    old = start_like_the_pod(run_operator, release.operator_deployment(), kubeconfig)

    wait_for(
        lambda: ready_condition(cluster, release.watched, "digits"),
        timeout=120,
        what="the ModelDeployment Ready under the installed operator",
    )
    serving = cluster.get("deployment", "digits-serving", release.watched)
    assert serving is not None and is_available(serving)

    with AvailabilityWatch(cluster, release.watched, "digits-serving", replicas=2) as watch:
        release.upgrade(
            logFormat="json", podAnnotations={"modelship.test/upgrade": secrets.token_hex(4)}
        )
        # The old pod is replaced by one running the upgraded settings.
        assert old.stop() is not None
        new = start_like_the_pod(run_operator, release.operator_deployment(), kubeconfig)

        def handled_in_json() -> bool:
            return any(
                line.startswith("{") and "digits" in line for line in new.output().splitlines()
            )

        wait_for(
            handled_in_json,
            timeout=90,
            what="the upgraded operator (JSON logs) handling the ModelDeployment",
        )
        wait_for(
            lambda: ready_condition(cluster, release.watched, "digits"),
            timeout=60,
            what="the ModelDeployment Ready under the upgraded operator",
        )

    assert watch.samples > 0
    assert watch.outages == [], watch.outages[:5]
    after = cluster.get("deployment", "digits-serving", release.watched)
    assert after is not None and is_available(after)
    # A new operator is no reason to restart the model's pods.
    assert after["metadata"]["generation"] == serving["metadata"]["generation"]
    assert new.process.poll() is None, new.output()[-3000:]
