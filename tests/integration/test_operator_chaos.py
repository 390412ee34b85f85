"""The operator when its dependencies misbehave, on the real test bed: an S3 server that hangs
(SIGSTOP) holds up only the ModelDeployments stored on it, and says so in their status.
(Killing the leader of two replicas: test_chart_leader_election.py.)"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.artifacts import ArtifactStore, parse_storage_uri
from modelship.dev.s3 import S3Server
from tests.integration.operator_env import (
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
