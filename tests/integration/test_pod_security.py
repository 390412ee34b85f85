"""The API server's own Pod Security admission, enforcing the "restricted" profile on a
namespace, admits every pod modelship runs — the operator (from the rendered chart), the
serving pods and the training workers — and refuses one that is not restricted, so the
check is real."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.api import parse_spec
from modelship.reconcile.deployment import serving_deployment
from modelship.reconcile.optimization import optimization_job
from modelship.reconcile.owner import Owner
from modelship.reconcile.training import training_job
from modelship.reconcile.versions import TargetVersion
from tests.cluster_fixtures import KubeCluster
from tests.unit.chart.helm import only, render

pytestmark = pytest.mark.integration

REFUSAL = 'violates PodSecurity "restricted:latest"'
OWNER = Owner(name="digits", namespace="ml", uid="6f1c2d3e-0000-4000-8000-000000000001")
SPEC = {
    "model": {"storageUri": "s3://models/digits"},
    "storage": {"endpoint": "http://minio.storage:9000", "secretRef": {"name": "s3"}},
    "serving": {"replicas": 2, "gpu": {"count": 1, "product": "NVIDIA-H100-80GB-HBM3"}},
    "training": {"entrypoint": "digits.train:train", "workers": 2, "gpu": {"count": 1}},
    # Capture adds flags and secretKeyRef env to the server, and a location to training.
    "monitoring": {
        "capture": {
            "storageUri": "s3://captures/digits",
            "mask": {"inputs": ["id"], "keySecretRef": {"name": "mask", "key": "hmac"}},
        }
    },
}


def pod_from(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The Pod a controller would create from `template`."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": template["metadata"].get("labels", {}),
            "annotations": template["metadata"].get("annotations", {}),
        },
        "spec": template["spec"],
    }


def operator_pod(namespace: str) -> dict[str, Any]:
    deployment = only(render(namespace=namespace), "Deployment")
    return pod_from(deployment["spec"]["template"], "operator")


@pytest.fixture
def restricted(cluster: KubeCluster, namespace: str) -> str:
    """A namespace enforcing "restricted", with the chart's ServiceAccount in it."""
    cluster.kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    cluster.apply(only(render(namespace=namespace), "ServiceAccount"))
    return namespace


def admitted(cluster: KubeCluster, namespace: str, pod: dict[str, Any]) -> None:
    result = cluster.apply(pod, namespace=namespace, check=False)
    assert result.returncode == 0, f"{pod['metadata']['name']} was refused: {result.stderr}"
    assert cluster.get("pod", pod["metadata"]["name"], namespace) is not None


def test_a_pod_that_is_not_restricted_is_refused(cluster: KubeCluster, restricted: str) -> None:
    pod = operator_pod(restricted)
    pod["metadata"]["name"] = "unrestricted"
    del pod["spec"]["securityContext"]
    del pod["spec"]["containers"][0]["securityContext"]
    result = cluster.apply(pod, namespace=restricted, check=False)
    assert result.returncode != 0
    assert REFUSAL in result.stderr
    assert "allowPrivilegeEscalation != false" in result.stderr
    assert cluster.get("pod", "unrestricted", restricted) is None


def test_the_operator_pod_is_admitted(cluster: KubeCluster, restricted: str) -> None:
    admitted(cluster, restricted, operator_pod(restricted))


def test_serving_pods_are_admitted(cluster: KubeCluster, restricted: str) -> None:
    deployment = serving_deployment(
        OWNER, parse_spec(SPEC, name="digits"), TargetVersion(3, "sha256:" + "ab" * 32)
    )
    admitted(cluster, restricted, pod_from(deployment["spec"]["template"], "serving"))


def test_training_workers_are_admitted(cluster: KubeCluster, restricted: str) -> None:
    objects = training_job(OWNER, parse_spec(SPEC, name="digits"), 4)
    (job,) = [o for o in objects if o["kind"] == "Job"]
    admitted(cluster, restricted, pod_from(job["spec"]["template"], "training-worker"))


def test_optimization_pods_are_admitted(cluster: KubeCluster, restricted: str) -> None:
    spec = {
        **SPEC,
        "optimize": {"quantization": "Int8", "evaluationDataUri": "s3://models/eval.npz"},
    }
    job = optimization_job(OWNER, parse_spec(spec, name="digits"), 3, 4)
    admitted(cluster, restricted, pod_from(job["spec"]["template"], "optimization"))
