"""The e2e tier reuses the integration tier's fixtures (cluster, S3, operator) and adds the
real node, on which the locally built images run for real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelship.dev import images, node
from tests.cluster_fixtures import KubeCluster
from tests.e2e.real_node import RealNodeBed
from tests.integration.conftest import operating, tiny_saved_model, world

__all__ = ["operating", "real_node", "tiny_saved_model", "world"]


@pytest.fixture(scope="session")
def real_node(cluster: KubeCluster, s3_server: Any) -> Iterator[RealNodeBed]:
    """The sandbox's real node joined to the session's cluster, the images imported.

    Fails (never skips) when it cannot start, with the reason, so CI shows why."""
    if cluster.cluster is None:
        pytest.fail(
            "the real-node tests need the sandbox's own cluster, not MODELSHIP_TEST_KUBECONFIG"
        )
    missing = node.missing_features()
    if missing:
        pytest.fail("the real node cannot start on this machine: " + "; ".join(missing))
    s3_port = int(s3_server.endpoint.rsplit(":", 1)[1])
    sim = cluster.cluster
    real = node.RealNode(sim.kubeconfig, sim.pki_dir, sim.apiserver_port(), (s3_port,))
    # The images first: their build engine is stopped by then, so the snapshot is the machine
    # as the node finds it.
    tarball = images.ensure_images_tarball()
    snapshot = node.MachineSnapshot.take()
    real.start(tarball)
    bed = RealNodeBed(cluster, real, s3_server.endpoint, snapshot)
    bed.digests = {ref: real.image_digest(ref) or "" for ref in images.node_images()}
    try:
        yield bed
    finally:
        real.stop()
