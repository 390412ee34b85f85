"""How long a serving pod takes on the sandbox's real node, step by step, beside the physical
limit measured in the same run: a plain pod of the same image that only starts Python.

    python -P bench/real_node.py [--runs 3]

Needs the sandbox with its real node (`modelship dev up`, or `make dev`) and the digits model
published at s3://models/digits (`make dev` does it). For each run it applies a one-replica
ModelDeployment on the real node in a fresh namespace and reads the pod's own timeline from the
API server: scheduled, the init container's pull (start -> end), the server container's start,
and Ready. The limit: a pod of the server image running `python3 -c pass` to completion, and
one with `modelship --help` (the CLI's imports), on the same node.
Image sizes and build times come from the last `modelship dev images` (built.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from modelship.dev import cluster, images, node
from modelship.dev.sandbox import Sandbox


def kubectl(*args: str, input: str | None = None) -> str:
    state = Sandbox().state()
    assert state is not None, "the sandbox is not running: `modelship dev up`"
    return cluster.kubectl(Path(state.kubeconfig), *args, input=input).stdout


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_pod(namespace: str, selector: str, done: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json"))
        for pod in pods["items"]:
            if done(pod):
                return pod  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise TimeoutError(f"no pod {selector} in {namespace} got there in {timeout}s")


def condition_time(pod: dict[str, Any], kind: str) -> float:
    return ts(
        next(c for c in pod["status"]["conditions"] if c["type"] == kind)["lastTransitionTime"]
    )


def ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def serving_run(index: int, endpoint: str) -> dict[str, float]:
    namespace = f"bench-{index}-{int(time.time())}"
    kubectl("create", "namespace", namespace)
    state = Sandbox().state()
    assert state is not None
    kubectl(
        "create", "secret", "generic", "s3-creds", "-n", namespace,
        f"--from-literal=AWS_ACCESS_KEY_ID={state.s3_access_key}",
        f"--from-literal=AWS_SECRET_ACCESS_KEY={state.s3_secret_key}",
    )  # fmt: skip
    md = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "digits", "namespace": namespace},
        "spec": {
            "model": {"storageUri": "s3://models/digits"},
            "storage": {"endpoint": endpoint, "secretRef": {"name": "s3-creds"}},
            "serving": {
                "replicas": 1,
                "gpu": {"count": 1, "product": node.GPU_PRODUCT},
                "tolerations": node.tolerations(),
            },
        },
    }
    applied = time.time()
    kubectl("apply", "-f", "-", input=json.dumps(md))
    pod = wait_pod(namespace, "app.kubernetes.io/component=serving", ready)
    seen_ready = time.time()
    init = pod["status"]["initContainerStatuses"][0]["state"]["terminated"]
    server = pod["status"]["containerStatuses"][0]["state"]["running"]
    created = ts(pod["metadata"]["creationTimestamp"])
    figures = {
        "apply -> pod created": created - applied,
        "pod created -> scheduled": condition_time(pod, "PodScheduled") - created,
        "pull (init container)": ts(init["finishedAt"]) - ts(init["startedAt"]),
        "server start -> Ready": condition_time(pod, "Ready") - ts(server["startedAt"]),
        "apply -> Ready (seen here)": seen_ready - applied,
    }
    kubectl("delete", "namespace", namespace, "--wait=false")
    return figures


def plain_run(index: int, command: list[str]) -> float:
    """Seconds from creating a pod of the server image to seeing it Succeeded (polled here
    every 0.2 s, as the ModelDeployment's Ready is)."""
    namespace = f"bench-plain-{index}-{int(time.time())}"
    kubectl("create", "namespace", namespace)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "plain", "namespace": namespace, "labels": {"bench": "plain"}},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {node.REAL_NODE_LABEL: "true"},
            "tolerations": node.tolerations(),
            "containers": [
                {
                    "name": "plain",
                    "image": images.image_ref("server"),
                    "imagePullPolicy": "Never",
                    "command": command,
                }
            ],
        },
    }
    created = time.time()
    kubectl("apply", "-f", "-", input=json.dumps(pod))
    wait_pod(namespace, "bench=plain", lambda p: p["status"].get("phase") == "Succeeded")
    seen = time.time()
    kubectl("delete", "namespace", namespace, "--wait=false")
    return seen - created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    state = Sandbox().state()
    assert state is not None and state.real_node == "running", (
        "needs `modelship dev up` with its real node"
    )
    runs = [serving_run(i, state.pod_s3_endpoint) for i in range(args.runs)]
    python_only = [plain_run(i, ["python3", "-c", "pass"]) for i in range(args.runs)]
    tf_only = [plain_run(i, ["python3", "-c", "import tensorflow"]) for i in range(args.runs)]
    print(f"real node, {args.runs} runs, median (min-max), from the API server's timestamps (1 s)")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(
            f"  {key:28} {statistics.median(values):6.1f} s ({min(values):.1f}-{max(values):.1f})"
        )
    floor, tf_floor = statistics.median(python_only), statistics.median(tf_only)
    print(f"  {'limit: pod python3 -c pass':28} {floor:6.1f} s")
    print(f"  {'limit: pod import tensorflow':28} {tf_floor:6.1f} s")
    seen = statistics.median(r["apply -> Ready (seen here)"] for r in runs)
    print(
        f"  apply -> Ready is {seen / floor:.1f}x a pod that only starts Python and "
        f"{seen / tf_floor:.1f}x one that only imports TensorFlow (same image, same node)"
    )
    record = images.images_dir() / "built.json"
    if record.exists():
        print("images (last `modelship dev images`):")
        for kind, image in json.loads(record.read_text()).items():
            size, seconds = image["size_bytes"] / 1e6, image["build_seconds"]
            print(f"  {kind:15} {size:7.0f} MB  built in {seconds:.1f} s")


if __name__ == "__main__":
    main()
