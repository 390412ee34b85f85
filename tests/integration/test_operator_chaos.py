"""The operator when its dependencies misbehave, on the real test bed: an S3 server that hangs
(SIGSTOP) holds up only the ModelDeployments stored on it, and says so in their status; an
operator SIGKILLed again and again during a rollout (or around a training Job's creation)
loses nothing and makes nothing twice; and when the API server restarts, the operator's
watches reconnect without a restart. (Killing the leader of two replicas:
test_chart_leader_election.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.artifacts import ArtifactStore, parse_storage_uri
from modelship.dev.s3 import S3Server, free_port
from tests.cluster_fixtures import KubeCluster, OperatorProcess, wait_for
from tests.integration.counters import wait_passes
from tests.integration.operator_env import (
    OPERATOR_ENV,
    ModelWorld,
    condition_of,
    is_ready_with,
)
from tests.resources import model_deployment, s3_secret

pytestmark = pytest.mark.integration


@pytest.fixture
def second_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3 server of this test's own, so pausing it disturbs no other test."""
    server = S3Server(tmp_path_factory.mktemp("s3-b")).start()
    try:
        yield server
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def artifact_reason(status: dict[str, Any]) -> str | None:
    return condition_of(status, "ArtifactReady").get("reason")


def test_a_hung_s3_server_delays_only_its_own_models_and_is_named_in_their_status(
    operating: ModelWorld, second_s3: S3Server, tiny_saved_model: Path
) -> None:
    world = operating
    world.publish()
    world.cluster.apply(world.model_deployment("steady").obj(), namespace=world.namespace)
    # "stuck" lives on the second server.
    second_s3.client().create_bucket(Bucket="stuck")
    uri = "s3://stuck/models/stuck"
    ArtifactStore(second_s3.client(), parse_storage_uri(uri)).push(
        tiny_saved_model, metrics={"accuracy": 0.9}
    )
    world.cluster.apply(
        s3_secret("s3-b", second_s3.access_key, second_s3.secret_key),
        model_deployment("stuck")
        .storage(uri, endpoint=second_s3.endpoint, secret="s3-b", poll="5s")
        .obj(),
        namespace=world.namespace,
    )
    for name in ("steady", "stuck"):
        world.wait_status(is_ready_with(1), f"{name} Ready on version 1", name=name)
    deployment = world.cluster.get("deployment", "stuck-serving", world.namespace)
    assert deployment is not None

    assert second_s3.process is not None
    os.kill(second_s3.process.pid, signal.SIGSTOP)
    paused = time.monotonic()
    world.publish()  # version 2 of "steady", on the healthy server

    # Within about one poll (5 s) plus the listing's deadline (5 s): the stuck model says
    # what is wrong and names the endpoint ...
    status = world.wait_status(
        lambda s: artifact_reason(s) == "StorageUnavailable",
        "stuck: StorageUnavailable",
        name="stuck",
        timeout=20,
    )
    assert second_s3.endpoint in condition_of(status, "ArtifactReady")["message"]
    # ... while the other one rolls out its new version as if nothing happened.
    world.wait_status(is_ready_with(2), "steady Ready on version 2", name="steady", timeout=30)
    assert time.monotonic() - paused < 30
    # The stuck model keeps serving what it served: its Deployment was not touched.
    after = world.cluster.get("deployment", "stuck-serving", world.namespace)
    assert after is not None
    assert after["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert world.status("stuck")["currentVersion"] == 1

    os.kill(second_s3.process.pid, signal.SIGCONT)
    world.wait_status(
        lambda s: condition_of(s, "ArtifactReady").get("status") == "True",
        "stuck: storage back",
        name="stuck",
        timeout=20,
    )
    world.wait_status(is_ready_with(1), "stuck Ready again", name="stuck", timeout=20)


MODELS = 50
KILLS = 10


def all_ready_on(world: ModelWorld, version: int) -> bool:
    items = world.cluster.list("modeldeployments", world.namespace)
    return len(items) == MODELS and all(
        is_ready_with(version)(md.get("status") or {}) for md in items
    )


def test_killing_the_operator_again_and_again_during_a_rollout_loses_and_doubles_nothing(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    def start() -> OperatorProcess:
        world.operator = run_operator("--namespace", world.namespace, env=OPERATOR_ENV)
        return world.operator

    world.publish()
    operator = start()
    world.cluster.apply(
        *[world.model_deployment(f"m{i}").obj() for i in range(MODELS)], namespace=world.namespace
    )
    wait_for(lambda: all_ready_on(world, 1), timeout=180, what=f"{MODELS} Ready on version 1")

    world.publish()  # version 2: every model rolls to it while the operator keeps dying
    for _ in range(KILLS):
        time.sleep(5)  # the kill schedule (every 5 s), not a wait for anything
        operator.process.send_signal(signal.SIGKILL)
        operator.process.wait()
        operator = start()
    wait_for(lambda: all_ready_on(world, 2), timeout=180, what=f"{MODELS} Ready on version 2")

    models = {
        md["metadata"]["name"]: md["metadata"]["uid"]
        for md in world.cluster.list("modeldeployments", world.namespace)
    }
    for kind, suffix in (("deployments", "-serving"), ("services", "")):
        objects = world.cluster.list(kind, world.namespace)
        assert sorted(o["metadata"]["name"] for o in objects) == sorted(
            f"{name}{suffix}" for name in models
        ), kind
        for obj in objects:
            (owner,) = obj["metadata"]["ownerReferences"]
            assert owner["uid"] == models[owner["name"]]
    assert not world.cluster.list("jobs", world.namespace)


def restart_apiserver(cluster: KubeCluster, down: float) -> None:
    """SIGKILL the kube-apiserver, and `down` seconds later start it again exactly as kwokctl
    did (its command line, working directory and environment, read from /proc)."""
    sim = cluster.cluster
    assert sim is not None
    pid = sim.component_pids()["kube-apiserver"]
    proc = Path(f"/proc/{pid}")
    command = [part.decode() for part in proc.joinpath("cmdline").read_bytes().split(b"\0")[:-1]]
    cwd = os.readlink(proc / "cwd")
    environ = dict(
        entry.split("=", 1)
        for entry in proc.joinpath("environ").read_bytes().decode().split("\0")
        if "=" in entry
    )
    os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: not proc.exists() or "Z" in proc.joinpath("stat").read_text().split()[2],
        timeout=10,
        what="the API server gone",
    )
    time.sleep(down)  # the outage itself
    with (sim.workdir / "logs" / "kube-apiserver.restarted.log").open("ab") as log:
        started = subprocess.Popen(
            command, cwd=cwd, env=environ, stdout=log, stderr=log, start_new_session=True
        )
    # kwokctl stops the cluster's components by their pid files.
    (sim.workdir / "pids" / "kube-apiserver.pid").write_text(str(started.pid))
    wait_for(
        lambda: cluster.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
        timeout=60,
        what="the API server back",
    )


def test_the_operator_reconnects_its_watches_after_the_api_server_restarts(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    if world.cluster.cluster is None:
        pytest.skip("restarts the test bed's own API server")
    # With leader election: the Lease too must survive the outage (it is lost, then held again).
    world.operator = run_operator(
        "--namespace",
        world.namespace,
        "--leader-election",
        env={**OPERATOR_ENV, "POD_NAMESPACE": world.namespace},
    )
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    assert world.operator is not None

    restart_apiserver(world.cluster, down=5)
    world.publish()
    # Version 2 reaches Ready only through the watches: its new pods are seen in the cache.
    world.wait_status(is_ready_with(2), "Ready on version 2 after the restart", timeout=90)
    world.cluster.apply(world.model_deployment().replicas(2).obj(), namespace=world.namespace)
    world.wait_status(
        lambda s: is_ready_with(2)(s) and s.get("readyReplicas") == 2, "scaled to 2", timeout=60
    )
    assert world.operator.process.poll() is None, "the same operator process, never restarted"


def test_a_training_run_survives_operator_kills_without_a_second_job(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    """The version number is chosen before the Job is created and read back from the cluster
    after a restart, so killing the operator around the Job's creation never starts another."""
    md = world.model_deployment().obj()
    md["spec"]["training"] = {"entrypoint": "digits_train:main"}
    world.cluster.apply(md, namespace=world.namespace)
    for _ in range(3):
        operator = run_operator("--namespace", world.namespace, env=OPERATOR_ENV)
        wait_for(lambda: world.cluster.list("jobs", world.namespace), timeout=60, what="the Job")
        operator.process.send_signal(signal.SIGKILL)  # right after it made (or found) the Job
        operator.process.wait()
    port = free_port()
    world.operator = run_operator(
        "--namespace", world.namespace, env={**OPERATOR_ENV, "MODELSHIP_METRICS_PORT": str(port)}
    )
    world.wait_status(
        lambda s: (s.get("training") or {}).get("jobName") == "digits-train-1", "the run recorded"
    )
    wait_passes(port, 2)
    assert [j["metadata"]["name"] for j in world.cluster.list("jobs", world.namespace)] == [
        "digits-train-1"
    ]
