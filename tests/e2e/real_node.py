"""The real node for e2e tests: started once per session on the session's cluster, with the
locally built images imported; helpers to run a client pod and to call a Service.

When this machine cannot run a real node, the fixture fails every test that needs it with
the reason (it is never skipped silently).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from modelship.dev import images, node
from modelship.dev.binaries import binary
from tests.cluster_fixtures import KubeCluster, wait_for

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


@dataclass
class RealNodeBed:
    cluster: KubeCluster
    node: node.RealNode
    s3_endpoint: str
    snapshot: node.MachineSnapshot
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def pod_s3_endpoint(self) -> str:
        """The sandbox's S3 server as pods reach it: the relay on the bridge."""
        return node.relayed(self.s3_endpoint)

    def restricted_namespace(self, namespace: str) -> None:
        """Pod Security "restricted" enforced: a pod that breaks it is refused at creation."""
        labels = [f"{k}={v}" for k, v in RESTRICTED.items()]
        self.cluster.kubectl("label", "namespace", namespace, "--overwrite", *labels)

    def client_pod(
        self,
        namespace: str,
        name: str,
        script: str,
        timeout: float = 120,
        image: str | None = None,
        run_as: int = 1000,
    ) -> str:
        """Runs `python3 -c script` in a pod on the real node (the server image unless told,
        restricted profile) and returns its output once it Succeeded."""
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "nodeSelector": {node.REAL_NODE_LABEL: "true"},
                "tolerations": node.tolerations(),
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": run_as,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "client",
                        "image": image or images.image_ref("server"),
                        "imagePullPolicy": "Never",
                        "command": ["python3", "-c", script],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        }
        self.cluster.apply(pod, namespace=namespace)

        def finished() -> str | None:
            got = self.cluster.get("pod", name, namespace) or {}
            phase = (got.get("status") or {}).get("phase")
            return phase if phase in ("Succeeded", "Failed") else None

        phase = wait_for(finished, timeout=timeout, what=f"client pod {name} to finish")
        logs = self.cluster.kubectl("logs", "-n", namespace, name).stdout
        assert phase == "Succeeded", f"client pod {name} failed:\n{logs}"
        return logs


def service_ip(cluster: KubeCluster, namespace: str, name: str) -> str:
    service = cluster.get("service", name, namespace)
    assert service is not None, f"Service {name} is missing"
    return str(service["spec"]["clusterIP"])


def post_json(url: str, body: Any, timeout: float = 10) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def post_when_routed(url: str, body: Any, timeout: float = 60) -> Any:
    """The answer to a POST through a Service once kube-proxy routes it: a ModelDeployment is
    Ready as soon as its pods are, and the node's iptables follow the endpoints a moment later."""

    def attempt() -> Any:
        try:
            return post_json(url, body)
        except (urllib.error.URLError, ConnectionError) as error:
            if isinstance(error, urllib.error.HTTPError):
                raise
            return None

    return wait_for(attempt, timeout=timeout, what=f"{url} to answer through its Service")


@contextmanager
def port_forward(cluster: KubeCluster, namespace: str, target: str, port: int) -> Iterator[int]:
    """`kubectl port-forward` to `target` (e.g. svc/digits); yields the local port."""
    process = subprocess.Popen(
        [
            str(binary("kubectl")),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "port-forward",
            "-n",
            namespace,
            "--address",
            "127.0.0.1",
            target,
            f"0:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        rest = process.stdout.read() if process.poll() is not None else ""
        assert match, f"kubectl port-forward said: {line}{rest}"
        yield int(match.group(1))
    finally:
        process.terminate()
        process.wait(10)
