"""The operator core on the real test bed: a ModelDeployment becomes verified, GPU-scheduled
serving pods, and its status tells the truth."""

from __future__ import annotations

import ipaddress
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from modelship.dev.s3 import free_port
from modelship.dev.simulation import A100, GPU_PRODUCT_LABEL
from tests.cluster_fixtures import OperatorProcess, wait_for
from tests.integration.operator_env import OPERATOR_ENV, ModelWorld, condition_of, is_ready_with

pytestmark = pytest.mark.integration


def test_gpu_model_lands_only_on_nodes_of_the_requested_product(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(
        world.model_deployment().gpus(1, product=A100).replicas(3).obj(), namespace=world.namespace
    )

    status = world.wait_status(is_ready_with(1), "Ready on version 1")
    assert status["readyReplicas"] == 3
    pods = world.pods()
    assert len(pods) == 3
    for pod in pods:
        node = world.cluster.get("node", pod["spec"]["nodeName"])
        assert node is not None
        assert node["metadata"]["labels"][GPU_PRODUCT_LABEL] == A100
        server = next(c for c in pod["spec"]["containers"] if c["name"] == "server")
        assert server["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert status["endpoint"] == (
        f"http://digits.{world.namespace}.svc.cluster.local:8501/v1/models/digits"
    )


def test_newest_version_serves_then_pinning_the_older_one_serves_it(operating: ModelWorld) -> None:
    world = operating
    first = world.publish()
    second = world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)

    status = world.wait_status(is_ready_with(2), "Ready on the newest version (2)")
    assert status["currentDigest"] == second.digest

    world.cluster.apply(world.model_deployment().version(1).obj(), namespace=world.namespace)
    status = world.wait_status(is_ready_with(1), "Ready on the pinned version 1")
    assert status["currentDigest"] == first.digest
    assert all(
        p["metadata"]["labels"]["modelship.io/version"] == "1"
        for p in world.pods()
        if not p["metadata"].get("deletionTimestamp")
    )


def test_new_version_rolls_out_without_a_spec_change(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    world.publish()
    status = world.wait_status(is_ready_with(2), "version 2 rolled out by polling", timeout=60)
    assert condition_of(status, "ArtifactReady")["status"] == "True"


def test_status_reports_observed_generation_and_scale_subresource(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    world.cluster.kubectl("scale", "-n", world.namespace, "modeldeployment/digits", "--replicas=2")
    status = world.wait_status(
        lambda s: s.get("readyReplicas") == 2 and condition_of(s, "Ready").get("status") == "True",
        "scaled to 2 through the scale subresource",
    )
    assert status["observedGeneration"] == world.md()["metadata"]["generation"]
    assert status["selector"]
    result = world.cluster.kubectl(
        "wait",
        "-n",
        world.namespace,
        "--for=condition=Ready",
        "--timeout=30s",
        "modeldeployment/digits",
    )
    assert "condition met" in result.stdout


def test_kubectl_shows_the_truth_in_columns_and_explain(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    table = world.cluster.kubectl("get", "md", "-n", world.namespace).stdout.splitlines()
    assert table[0].split()[:6] == ["NAME", "MODEL", "VERSION", "READY", "PHASE", "REPLICAS"]
    assert table[1].split()[:6] == ["digits", "digits", "1", "True", "Ready", "1"]
    explain = world.cluster.kubectl("explain", "modeldeployment.spec.serving.gpu").stdout
    assert "resourceName" in explain and "product" in explain
    reasons = {e["reason"] for e in world.events()}
    assert reasons, "no Event was posted on the ModelDeployment"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("serving.replicas", -1, "spec.serving.replicas"),
        ("serving.gpu.count", -2, "spec.serving.gpu.count"),
        ("model.storageUri", "gs://bucket/model", "spec.model.storageUri"),
        ("model.storageUri", "s3://models//digits", "spec.model.storageUri"),
        ("model.storageUri", "s3://models/a/../digits", "spec.model.storageUri"),
        ("storage.pollInterval", "soon", "spec.storage.pollInterval"),
        ("rollout.strategy", "Teleport", "spec.rollout.strategy"),
        (
            "training",
            {"entrypoint": "t:main", "gate": {"metric": "loss", "min": 0.9, "max": 0.5}},
            "spec.training.gate.min is above spec.training.gate.max",
        ),
        (
            "training",
            {"entrypoint": "t:main", "env": [{"name": "AWS_ACCESS_KEY_ID", "value": "x"}]},
            "spec.training.env sets a variable the operator sets itself",
        ),
    ],
)
def test_bad_spec_is_refused_at_apply_with_the_field_named(
    world: ModelWorld, field: str, value: object, named: str
) -> None:
    result = world.cluster.apply(
        world.model_deployment().set(field, value).obj(), namespace=world.namespace, check=False
    )
    assert result.returncode != 0
    assert named in result.stderr
    assert world.cluster.get("modeldeployment", "digits", world.namespace) is None


def test_operator_metrics_liveness_and_readiness_endpoints(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    metrics_port, health_port = free_port(), free_port()
    world.operator = run_operator(
        "--namespace",
        world.namespace,
        env={
            **OPERATOR_ENV,
            "MODELSHIP_METRICS_PORT": str(metrics_port),
            "MODELSHIP_HEALTH_PORT": str(health_port),
        },
    )
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")

    def fetch(port: int, path: str) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except OSError:
            return None

    code, _ = wait_for(lambda: fetch(health_port, "/healthz"), timeout=30, what="/healthz")
    assert code == 200
    # Ready: it runs alone, so it is the one that acts.
    assert fetch(health_port, "/readyz") == (200, "leader")
    code, text = wait_for(lambda: fetch(metrics_port, "/metrics"), timeout=30, what="/metrics")
    assert code == 200
    reconciles = re.findall(r'^modelship_reconciles_total\{result="(\w+)"\} (\S+)$', text, re.M)
    assert reconciles and sum(float(n) for _, n in reconciles) >= 1, text[:2000]
    assert "modelship_reconcile_duration_seconds_bucket" in text
    # Concurrency is bounded and measured: passes in flight and waiting, S3 listing times.
    assert re.search(r"^modelship_reconciles_in_flight \S+$", text, re.M), text[:2000]
    assert re.search(r"^modelship_reconciles_waiting 0\.0$", text, re.M), text[:2000]
    assert 'modelship_s3_listing_duration_seconds_bucket{le="1.0",result="ok"}' in text
    assert re.search(r"^modelship_api_requests_total\{.*verb=\"PATCH\"", text, re.M), text[:2000]
    # Where a pass's time goes: the API's answers, the wait for a slot, the event loop's lag.
    patches = re.search(
        r'^modelship_api_request_duration_seconds_count\{verb="PATCH"\} (\S+)$', text, re.M
    )
    assert patches and float(patches.group(1)) >= 1, text[:2000]
    assert re.search(r"^modelship_reconcile_slot_wait_seconds_count [1-9]", text, re.M)

    def lag_samples() -> re.Match[str] | None:
        text = (fetch(metrics_port, "/metrics") or (0, ""))[1]
        return re.search(r"^modelship_event_loop_lag_seconds_count [1-9]", text, re.M)

    wait_for(lag_samples, timeout=10, what="a sample of the event loop's lag")
    # Both listen on 127.0.0.1 only.
    for port in (metrics_port, health_port):
        assert listen_addresses(port) == {"127.0.0.1"}


def listen_addresses(port: int) -> set[str]:
    """The addresses with a TCP socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if len(raw) == 4:  # little-endian IPv4
                found.add(str(ipaddress.IPv4Address(raw[::-1])))
            else:  # IPv6, four little-endian 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(str(ipaddress.IPv6Address(words)))
    return found
