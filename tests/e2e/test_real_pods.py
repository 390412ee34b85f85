"""The pods modelship makes, run for real: the locally built images on the sandbox's real node
(kubelet + containerd), under Pod Security "restricted", with a read-only root filesystem.

The operator installed by Helm, the digits model pulled, verified and served, predictions
through the Service from a pod and from the host, a tampered version stopped by the real init
container, a rollout under load without a failed request, and a training Job from the trainer
image whose version goes on to serve. The last test stops the node and proves nothing is left.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.artifacts.manifest import MANIFEST_NAME
from modelship.dev import images, node
from tests.cluster_fixtures import wait_for
from tests.e2e.real_node import RealNodeBed, port_forward, post_json, post_when_routed, service_ip
from tests.integration.operator_env import ModelWorld
from tests.unit.chart.helm import CHART, run_helm

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
MODEL = "digits"


@dataclass(frozen=True)
class DigitsModel:
    path: Path
    metrics: dict[str, float]
    inputs: list[list[float]]
    expected: np.ndarray  # in-process predictions of `inputs`


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> DigitsModel:
    """The digits example trained here, and its predictions computed in-process."""
    import sys

    sys.path.insert(0, str(REPO / "examples" / "digits"))
    try:
        import tensorflow as tf
        from digits import build_and_train, export_saved_model, load_digits_split
    finally:
        sys.path.pop(0)
    model, metrics = build_and_train(epochs=5, seed=1)
    path = export_saved_model(model, tmp_path_factory.mktemp("digits") / "model")
    x_test = load_digits_split(seed=1)[1][:8]
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    expected = signature(pixels=tf.constant(x_test))["probabilities"].numpy()
    return DigitsModel(Path(path), metrics, x_test.tolist(), expected)


def on_real_node(world: ModelWorld, bed: RealNodeBed, replicas: int = 1) -> dict[str, Any]:
    """A ModelDeployment whose pods go to the real node: its fake GPU product and its taint,
    and the S3 endpoint as pods reach it."""
    md = (
        world.model_deployment()
        .storage(world.uri, endpoint=bed.pod_s3_endpoint, secret="s3-creds", poll="5s")
        .replicas(replicas)
        .gpus(1, product=node.GPU_PRODUCT)
        .set("serving.tolerations", node.tolerations())
        .set("serving.progressDeadline", "5m")
        .obj()
    )
    return md


def publish(world: ModelWorld, model: DigitsModel) -> int:
    return world.store().push(model.path, metrics=model.metrics).number


def ready_on(
    world: ModelWorld, version: int, replicas: int = 1, timeout: float = 180
) -> dict[str, Any]:
    return world.wait_status(
        lambda s: (
            s.get("currentVersion") == version
            and s.get("readyReplicas") == replicas
            and any(c["type"] == "Ready" and c["status"] == "True" for c in s.get("conditions", []))
        ),
        f"version {version} Ready with {replicas} replica(s)",
        timeout=timeout,
    )


def predict_url(host: str, port: int = 8501) -> str:
    return f"http://{host}:{port}/v1/models/{MODEL}:predict"


def assert_same_predictions(answer: Any, model: DigitsModel) -> None:
    got = np.array(answer["predictions"], dtype=np.float32)
    np.testing.assert_allclose(got, model.expected, rtol=1e-4, atol=1e-5)


def serving_pods(world: ModelWorld) -> list[dict[str, Any]]:
    return world.cluster.list("pods", world.namespace, "app.kubernetes.io/component=serving")


@pytest.fixture
def real_world(world: ModelWorld, real_node: RealNodeBed) -> ModelWorld:
    real_node.restricted_namespace(world.namespace)
    return world


@pytest.fixture
def real_operating(real_world: ModelWorld, operating: ModelWorld) -> ModelWorld:
    """The same world with the operator running as a process, watching its namespace."""
    return real_world


def test_helm_operator_serves_digits_on_the_real_node(
    real_world: ModelWorld, real_node: RealNodeBed, digits_model: DigitsModel
) -> None:
    world = real_world
    publish(world, digits_model)
    digest = real_node.digests[images.image_ref("operator")]
    assert digest.startswith("sha256:"), real_node.digests
    values = {
        "image": {
            "repository": images.image_ref("operator").split(":")[0],
            "digest": digest,
            "pullPolicy": "Never",
        },
        "watchNamespaces": [world.namespace],
        "rbac": {"namespaced": True},
        "crds": {"enabled": False},  # the session's cluster has it (kubectl apply of crds/)
        "nodeSelector": {node.REAL_NODE_LABEL: "true"},
        "tolerations": node.tolerations(),
    }
    run_helm(
        "install",
        "ms",
        str(CHART),
        "-n",
        world.namespace,
        "--wait",
        "--timeout",
        "3m",
        values=values,
        kubeconfig=world.cluster.kubeconfig,
        timeout=300,
    )

    # The operator's pods run on the real node, from the image pinned by digest, and are Ready.
    pods = world.cluster.list("pods", world.namespace, "app.kubernetes.io/component=operator")
    assert pods and all(p["spec"]["nodeName"] == node.NODE_NAME for p in pods)
    assert all(p["spec"]["containers"][0]["image"].endswith(digest) for p in pods)
    assert all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        for p in pods
    )

    # It reconciles with its own ServiceAccount token: no other operator watches this namespace.
    world.cluster.apply(on_real_node(world, real_node), namespace=world.namespace)
    status = ready_on(world, 1)
    assert status["endpoint"].endswith(f"/v1/models/{MODEL}")
    pod = serving_pods(world)[0]
    assert pod["spec"]["nodeName"] == node.NODE_NAME
    # The real init container pulled and verified the version; the server container runs it.
    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["exitCode"] == 0

    # Predictions through the Service, from a client pod on the node...
    ip = service_ip(world.cluster, world.namespace, MODEL)
    body = json.dumps({"instances": digits_model.inputs})
    script = "\n".join(
        (
            "import time, urllib.error, urllib.request",
            f"r = urllib.request.Request({predict_url(ip)!r}, data={body!r}.encode(),"
            " headers={'Content-Type': 'application/json'})",
            "for attempt in range(60):  # until kube-proxy routes the Service",
            "    try:",
            "        print(urllib.request.urlopen(r, timeout=20).read().decode()); break",
            "    except urllib.error.URLError as error:",
            "        if isinstance(error, urllib.error.HTTPError): raise",
            "        time.sleep(0.5)",
        )
    )
    from_pod = json.loads(
        real_node.client_pod(world.namespace, "client", script).strip().splitlines()[-1]
    )
    assert_same_predictions(from_pod, digits_model)
    # ...and from this machine through `kubectl port-forward`.
    with port_forward(world.cluster, world.namespace, f"svc/{MODEL}", 8501) as port:
        from_host = post_json(predict_url("127.0.0.1", port), {"instances": digits_model.inputs})
    assert_same_predictions(from_host, digits_model)
    run_helm(
        "uninstall", "ms", "-n", world.namespace, "--wait", kubeconfig=world.cluster.kubeconfig
    )


def test_tampered_version_is_stopped_by_the_real_init_container(
    real_operating: ModelWorld, real_node: RealNodeBed, digits_model: DigitsModel
) -> None:
    world = real_operating
    publish(world, digits_model)
    world.cluster.apply(on_real_node(world, real_node), namespace=world.namespace)
    ready_on(world, 1)

    # Version 2's manifest claims another sha256 for one file. Sizes and ETags still match, so
    # the operator's cheap check passes: only the pull, which hashes every byte, can tell.
    v2 = publish(world, digits_model)
    client = world.s3.client()
    key = f"{world.prefix}/{v2}/{MANIFEST_NAME}"
    manifest = json.loads(client.get_object(Bucket=world.bucket, Key=key)["Body"].read())
    manifest["files"][0]["sha256"] = "0" * 64
    client.put_object(Bucket=world.bucket, Key=key, Body=json.dumps(manifest).encode())

    def init_failed() -> dict[str, Any] | None:
        for pod in serving_pods(world):
            for status in (pod.get("status") or {}).get("initContainerStatuses") or []:
                terminated = (status.get("lastState") or {}).get("terminated") or (
                    status.get("state") or {}
                ).get("terminated")
                if terminated and terminated.get("exitCode", 0) != 0:
                    return terminated  # type: ignore[no-any-return]
        return None

    terminated = wait_for(init_failed, timeout=180, what="the pull of version 2 to fail")
    assert "ChecksumMismatch" in terminated.get("message", ""), terminated
    status = world.wait_status(
        lambda s: "ChecksumMismatch" in json.dumps(s.get("conditions", [])),
        "status to name ChecksumMismatch",
        timeout=120,
    )
    assert status["currentVersion"] == 1
    # The previous version keeps serving.
    answer = post_when_routed(
        predict_url(service_ip(world.cluster, world.namespace, MODEL)),
        {"instances": digits_model.inputs},
    )
    assert_same_predictions(answer, digits_model)


@dataclass
class SteadyLoad:
    """Requests at a steady rate against `url`, each on a new connection (as a client whose
    keep-alive connection closed would make), counting every failure with its cause."""

    url: str
    body: bytes
    rate: float = 20.0
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        interval = 1 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sent += 1
            request = urllib.request.Request(
                self.url,
                data=self.body,
                headers={"Content-Type": "application/json", "Connection": "close"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
            except (urllib.error.URLError, OSError) as error:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {error}")
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    @classmethod
    def started(cls, url: str, body: Any) -> tuple[SteadyLoad, threading.Thread]:
        load = cls(url, json.dumps(body).encode())
        thread = threading.Thread(target=load.run, daemon=True)
        thread.start()
        return load, thread

    def stop(self, thread: threading.Thread) -> None:
        self._stop.set()
        thread.join(30)


@pytest.fixture
def steady_load() -> Iterator[list[tuple[SteadyLoad, threading.Thread]]]:
    running: list[tuple[SteadyLoad, threading.Thread]] = []
    yield running
    for load, thread in running:
        load.stop(thread)


def test_rollout_under_load_fails_no_request(
    real_operating: ModelWorld,
    real_node: RealNodeBed,
    digits_model: DigitsModel,
    steady_load: list[tuple[SteadyLoad, threading.Thread]],
) -> None:
    world = real_operating
    publish(world, digits_model)
    world.cluster.apply(on_real_node(world, real_node, replicas=2), namespace=world.namespace)
    ready_on(world, 1, replicas=2)
    url = predict_url(service_ip(world.cluster, world.namespace, MODEL))
    post_when_routed(url, {"instances": digits_model.inputs})  # the Service routes: load from now
    load, thread = SteadyLoad.started(url, {"instances": digits_model.inputs})
    steady_load.append((load, thread))
    wait_for(lambda: load.sent >= 40, timeout=30, what="load before the rollout")

    publish(world, digits_model)  # version 2
    ready_on(world, 2, replicas=2, timeout=240)
    # Until every pod of version 1 has gone: the rollout is over only then.
    wait_for(
        lambda: all(
            p["metadata"]["labels"].get("modelship.io/version") == "2" for p in serving_pods(world)
        ),
        timeout=120,
        what="the pods of version 1 to be gone",
    )
    sent_at_end = load.sent
    wait_for(lambda: load.sent >= sent_at_end + 40, timeout=30, what="load after the rollout")
    load.stop(thread)
    print(f"rollout under load: {load.sent} requests at {load.rate}/s, {len(load.failures)} failed")
    assert load.failures == [], (
        f"{len(load.failures)} of {load.sent} requests failed: {load.failures[:5]}"
    )


def test_training_job_runs_on_the_real_node_and_its_version_serves(
    real_operating: ModelWorld, real_node: RealNodeBed
) -> None:
    world = real_operating
    md = on_real_node(world, real_node)
    md["spec"]["training"] = {
        "entrypoint": "training:train",
        "image": images.DIGITS_TRAINER_IMAGE,
        "gpu": {"count": 1, "product": node.GPU_PRODUCT},
        "tolerations": node.tolerations(),
        "gate": {"metric": "accuracy", "min": 0.8},
    }
    world.cluster.apply(md, namespace=world.namespace)
    job = wait_for(
        lambda: world.cluster.get("job", "digits-train-1", world.namespace),
        timeout=60,
        what="the training Job",
    )
    assert job is not None
    status = ready_on(world, 1, timeout=400)
    pods = world.cluster.list("pods", world.namespace, "job-name=digits-train-1")
    assert pods and pods[0]["spec"]["nodeName"] == node.NODE_NAME
    assert pods[0]["status"]["phase"] == "Succeeded"
    assert status["training"]["version"] == 1
    assert status["training"]["metrics"]["accuracy"] >= 0.8
    # The version the real trainer published serves from the real node.
    answer = post_when_routed(
        predict_url(service_ip(world.cluster, world.namespace, MODEL)), {"instances": [[0.0] * 64]}
    )
    assert len(answer["predictions"][0]) == 10


def test_the_operator_image_is_the_core_without_tensorflow(
    real_world: ModelWorld, real_node: RealNodeBed
) -> None:
    script = (
        "import importlib.util, kopf, kubernetes, boto3, modelship.controller;"
        "print('tensorflow' if importlib.util.find_spec('tensorflow') else 'no tensorflow')"
    )
    output = real_node.client_pod(
        real_world.namespace,
        "operator-image",
        script,
        image=images.image_ref("operator"),
        run_as=65532,
    )
    assert output.strip().splitlines()[-1] == "no tensorflow"


def test_stopping_the_real_node_leaves_nothing_behind(real_node: RealNodeBed) -> None:
    # Last in this module: stop the session's node, compare the machine with its state before
    # the node started, then start it again for whatever runs after.
    leftovers = real_node.node.stop()
    assert leftovers == []
    after = node.MachineSnapshot.take()
    assert real_node.snapshot.differences(after) == []
    assert node.BRIDGE not in after.links
    assert all(not p.startswith(str(node.RUN_DIR)) for p in after.mounts)
    real_node.node.start(images.ensure_images_tarball())
