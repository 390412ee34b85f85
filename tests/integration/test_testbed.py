"""The test bed is real: the scheduler, controllers, admission, RBAC and S3 behave as in a
real cluster. If these fail, no other integration test means anything."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from modelship.dev.simulation import A100, GPU_PRODUCT_LABEL, H100
from tests.cluster_fixtures import KubeCluster, wait_for

pytestmark = pytest.mark.integration

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def gpu_pod(
    name: str, *, tolerate: bool, product: str | None = None, gpus: int = 1
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "main",
                "image": "registry.example/cuda:12",
                "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
            }
        ],
    }
    if tolerate:
        spec["tolerations"] = [GPU_TOLERATION]
    if product:
        spec["nodeSelector"] = {GPU_PRODUCT_LABEL: product}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def node_labels(cluster: KubeCluster, name: str) -> dict[str, str]:
    node = cluster.get("node", name)
    assert node is not None
    return node["metadata"]["labels"]  # type: ignore[no-any-return]


def running_node(cluster: KubeCluster, namespace: str, pod: str) -> str:
    def check() -> str | None:
        obj = cluster.get("pod", pod, namespace)
        if obj and obj["status"].get("phase") == "Running":
            return obj["spec"]["nodeName"]  # type: ignore[no-any-return]
        return None

    return wait_for(check, timeout=30, what=f"pod {pod} Running")  # type: ignore[no-any-return]


def test_gpu_pod_without_toleration_stays_pending_with_scheduler_message(
    cluster: KubeCluster, namespace: str
) -> None:
    cluster.apply(gpu_pod("no-toleration", tolerate=False), namespace=namespace)

    def unschedulable() -> str | None:
        pod = cluster.get("pod", "no-toleration", namespace)
        for cond in (pod or {}).get("status", {}).get("conditions", []):
            if cond["type"] == "PodScheduled" and cond.get("reason") == "Unschedulable":
                return cond["message"]  # type: ignore[no-any-return]
        return None

    message = wait_for(unschedulable, timeout=30, what="the scheduler's verdict")
    assert message.startswith("0/6 nodes are available")
    assert "Insufficient nvidia.com/gpu" in message
    assert "untolerated taint" in message
    pod = cluster.get("pod", "no-toleration", namespace)
    assert pod is not None and pod["status"]["phase"] == "Pending"


def test_gpu_pod_with_toleration_runs_on_a_gpu_node(cluster: KubeCluster, namespace: str) -> None:
    cluster.apply(gpu_pod("tolerated", tolerate=True), namespace=namespace)
    node = running_node(cluster, namespace, "tolerated")
    assert GPU_PRODUCT_LABEL in node_labels(cluster, node)


@pytest.mark.parametrize("product", [H100, A100])
def test_pod_pinned_to_a_product_lands_on_that_product(
    cluster: KubeCluster, namespace: str, product: str
) -> None:
    cluster.apply(gpu_pod("pinned", tolerate=True, product=product), namespace=namespace)
    node = running_node(cluster, namespace, "pinned")
    assert node_labels(cluster, node)[GPU_PRODUCT_LABEL] == product


def test_more_gpus_than_any_node_has_is_unschedulable(cluster: KubeCluster, namespace: str) -> None:
    cluster.apply(gpu_pod("greedy", tolerate=True, gpus=9), namespace=namespace)

    def message() -> str | None:
        pod = cluster.get("pod", "greedy", namespace) or {}
        conds = pod.get("status", {}).get("conditions", [])
        return next((c["message"] for c in conds if c.get("reason") == "Unschedulable"), None)

    assert "Insufficient nvidia.com/gpu" in wait_for(message, timeout=30, what="Unschedulable")


def test_job_pod_completes_and_job_reports_complete(cluster: KubeCluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox:1"}],
                    }
                },
            },
        },
        namespace=namespace,
    )

    def complete() -> bool:
        job = cluster.get("job", "once", namespace) or {}
        return any(
            c["type"] == "Complete" and c["status"] == "True"
            for c in job.get("status", {}).get("conditions", [])
        )

    wait_for(complete, timeout=60, what="Job Complete")
    job = cluster.get("job", "once", namespace)
    assert job is not None and job["status"]["succeeded"] == 1


def test_deployment_becomes_available(cluster: KubeCluster, namespace: str) -> None:
    labels = {"app": "web"}
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "main", "image": "nginx:1"}]},
                },
            },
        },
        namespace=namespace,
    )
    result = cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Available", "--timeout=60s", "deployment/web"
    )
    assert "condition met" in result.stdout
    deployment = cluster.get("deployment", "web", namespace)
    assert deployment is not None and deployment["status"]["readyReplicas"] == 3


def test_api_server_refuses_an_invalid_field(cluster: KubeCluster, namespace: str) -> None:
    result = cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bad"},
            "spec": {
                "replicas": -1,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "main", "image": "nginx:1"}]},
                },
            },
        },
        namespace=namespace,
        check=False,
    )
    assert result.returncode != 0
    assert "spec.replicas" in result.stderr


def test_user_without_rbac_permission_is_refused(
    cluster: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    config = cluster.kubeconfig_for_serviceaccount(namespace, "nobody", tmp_path / "kc")
    as_nobody = ["--kubeconfig", str(config)]
    denied = cluster.kubectl(*as_nobody, "get", "secrets", "-n", namespace, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    assert f"system:serviceaccount:{namespace}:nobody" in denied.stderr
    # Granting the permission through RBAC is what lets it through, so the refusal was RBAC.
    cluster.kubectl(
        "create", "role", "read-secrets", "--verb=list", "--resource=secrets", "-n", namespace
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "read-secrets",
        "--role=read-secrets",
        f"--serviceaccount={namespace}:nobody",
        "-n",
        namespace,
    )
    wait_for(
        lambda: (
            cluster.kubectl(*as_nobody, "get", "secrets", "-n", namespace, check=False).returncode
            == 0
        ),
        timeout=20,
        what="RBAC grant to take effect",
    )


def test_s3_put_get_list_and_multipart_round_trip(s3_server: Any, s3_bucket: str) -> None:
    s3 = s3_server.client()
    s3.put_object(Bucket=s3_bucket, Key="m/1/small.txt", Body=b"hello")
    assert s3.get_object(Bucket=s3_bucket, Key="m/1/small.txt")["Body"].read() == b"hello"

    part = os.urandom(5 * 1024 * 1024)
    upload = s3.create_multipart_upload(Bucket=s3_bucket, Key="m/1/big.bin")
    etags = [
        s3.upload_part(
            Bucket=s3_bucket,
            Key="m/1/big.bin",
            UploadId=upload["UploadId"],
            PartNumber=n,
            Body=part,
        )["ETag"]
        for n in (1, 2)
    ]
    s3.complete_multipart_upload(
        Bucket=s3_bucket,
        Key="m/1/big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )
    body = s3.get_object(Bucket=s3_bucket, Key="m/1/big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(part + part).digest()

    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="m/1/")
    assert {o["Key"]: o["Size"] for o in listed["Contents"]} == {
        "m/1/small.txt": 5,
        "m/1/big.bin": 10 * 1024 * 1024,
    }
    assert json.loads(json.dumps(listed["KeyCount"])) == 2
