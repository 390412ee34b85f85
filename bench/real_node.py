# ruff: noqa: E402  (the sys.path fix below must run before any other import)
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

Then bench/controller.py's figure (a) on real pods: apply -> Ready of a one-replica
ModelDeployment against apply -> Available of a plain Deployment with the pod template the
operator made (relabelled), one at a time in one namespace (the node has one GPU), runs
alternating which goes first. On kwok's simulated pods, Ready costs nothing and the operator's
own steps are most of the time; here the pod pulls the model and loads it, as a user's does.
"""

from __future__ import annotations

import os
import sys

# Run as `python bench/real_node.py`, this folder heads sys.path; the checkout's root takes its
# place, so `bench.controller` can be imported (its Ready and Available, for figure (a)).
sys.path[:] = [
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    *(
        entry
        for entry in sys.path
        if os.path.abspath(entry or os.curdir) != os.path.dirname(os.path.abspath(__file__))
    ),
]

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.controller import DEPLOYMENTS, MODEL_DEPLOYMENTS, Kind

from modelship.api import GROUP, KIND, VERSION
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


class RatioRuns:
    """Figure (a) of bench/controller.py on the real node (see the module's docstring)."""

    def __init__(self, endpoint: str) -> None:
        from kubernetes import client, config

        state = Sandbox().state()
        assert state is not None
        api = config.new_client_from_config(config_file=state.kubeconfig)
        self.custom, self.core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        self.endpoint = endpoint
        self.namespace = f"bench-ratio-{int(time.time())}"
        kubectl("create", "namespace", self.namespace)
        kubectl(
            "create", "secret", "generic", "s3-creds", "-n", self.namespace,
            f"--from-literal=AWS_ACCESS_KEY_ID={state.s3_access_key}",
            f"--from-literal=AWS_SECRET_ACCESS_KEY={state.s3_secret_key}",
        )  # fmt: skip
        self.template: dict[str, Any] = {}

    def model_deployment(self, name: str) -> float:
        """Seconds from creating it to its status saying Ready; it is deleted, and its pod
        gone, before this returns."""
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name},
            "spec": {
                "model": {"storageUri": "s3://models/digits"},
                "storage": {"endpoint": self.endpoint, "secretRef": {"name": "s3-creds"}},
                "serving": {
                    "replicas": 1,
                    "gpu": {"count": 1, "product": node.GPU_PRODUCT},
                    "tolerations": node.tolerations(),
                },
            },
        }
        took = self._timed(MODEL_DEPLOYMENTS, body)
        if not self.template:
            served = self._read(DEPLOYMENTS, f"{name}-serving")
            self.template = served["spec"]["template"]
        self._delete(MODEL_DEPLOYMENTS, name, f"app.kubernetes.io/instance={name}")
        return took

    def plain_deployment(self, name: str) -> float:
        """Seconds from creating a Deployment of the operator's pod template (its own labels,
        so the operator leaves it alone) to Available; deleted, its pod gone, on return."""
        labels = {"bench/plain": name}
        template = json.loads(json.dumps(self.template))
        template["metadata"]["labels"] = labels
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
        }
        took = self._timed(DEPLOYMENTS, body)
        self._delete(DEPLOYMENTS, name, f"bench/plain={name}")
        return took

    def _timed(self, kind: Kind, body: dict[str, Any]) -> float:
        """Seconds from creating `body` to `kind.ready` holding for it (as bench/controller.py
        judges figure (a)), read every 50 ms."""
        started = time.monotonic()
        self.custom.create_namespaced_custom_object(
            kind.group, kind.version, self.namespace, kind.plural, body
        )
        name = body["metadata"]["name"]
        return self._until(lambda: kind.ready(self._read(kind, name))) - started

    def _read(self, kind: Kind, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            kind.group, kind.version, self.namespace, kind.plural, name
        )

    def _delete(self, kind: Kind, name: str, pods: str) -> None:
        """Deletes it and waits until no pod matches the `pods` selector (the GPU is free)."""
        self.custom.delete_namespaced_custom_object(
            kind.group, kind.version, self.namespace, kind.plural, name
        )
        self._until(
            lambda: not self.core.list_namespaced_pod(self.namespace, label_selector=pods).items
        )

    def _until(self, done: Callable[[], bool], timeout: float = 300) -> float:
        """The moment `done()` first held, checked every 50 ms."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return time.monotonic()
            time.sleep(0.05)
        raise TimeoutError(f"not there after {timeout}s")

    def close(self) -> None:
        kubectl("delete", "namespace", self.namespace, "--wait=false")


def ratio_runs(runs: int, endpoint: str) -> tuple[list[float], list[float]]:
    """(ModelDeployment seconds, plain Deployment seconds), one pair per run, after a
    warm-up ModelDeployment that gives the plain Deployments their pod template."""
    bench = RatioRuns(endpoint)
    md, plain = [], []
    try:
        bench.model_deployment("warm-up")
        for run in range(runs):
            for which in ("md", "plain") if run % 2 == 0 else ("plain", "md"):
                if which == "md":
                    md.append(bench.model_deployment(f"md-{run}"))
                else:
                    plain.append(bench.plain_deployment(f"plain-{run}"))
    finally:
        bench.close()
    return md, plain


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
    md, plain = ratio_runs(args.runs, state.pod_s3_endpoint)
    md_median, plain_median = statistics.median(md), statistics.median(plain)
    print(
        f"(a) on real pods, {args.runs} runs alternating which goes first (medians):\n"
        f"  ModelDeployment apply -> Ready       {md_median:6.2f} s "
        f"({min(md):.2f}-{max(md):.2f})\n"
        f"  plain Deployment apply -> Available  {plain_median:6.2f} s "
        f"({min(plain):.2f}-{max(plain):.2f}), same pod template\n"
        f"  ratio {md_median / plain_median:.2f}x"
    )
    record = images.images_dir() / "built.json"
    if record.exists():
        print("images (last `modelship dev images`):")
        for kind, image in json.loads(record.read_text()).items():
            size, seconds = image["size_bytes"] / 1e6, image["build_seconds"]
            print(f"  {kind:15} {size:7.0f} MB  built in {seconds:.1f} s")


if __name__ == "__main__":
    main()
