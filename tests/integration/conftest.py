"""Fixtures for operator tests on the real test bed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster_fixtures import KubeCluster, OperatorProcess
from tests.integration.operator_env import OPERATOR_ENV, ModelWorld
from tests.models import write_tiny_saved_model


@pytest.fixture(scope="session")
def tiny_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_saved_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def world(
    cluster: KubeCluster, namespace: str, s3_server: Any, s3_bucket: str, tiny_saved_model: Path
) -> ModelWorld:
    """A namespace with the S3 Secret, an empty bucket, and no operator yet."""
    world = ModelWorld(cluster, namespace, s3_server, s3_bucket, tiny_saved_model)
    world.add_secret()
    return world


@pytest.fixture
def operating(world: ModelWorld, run_operator: Callable[..., OperatorProcess]) -> ModelWorld:
    """The same, with the operator running and watching only that namespace."""
    world.operator = run_operator("--namespace", world.namespace, env=OPERATOR_ENV)
    return world
