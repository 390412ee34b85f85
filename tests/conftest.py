"""Fixtures shared by every tier: the real S3 server and the real Kubernetes test bed.

The same code as `modelship dev up` starts them (modelship.dev). Set MODELSHIP_TEST_KUBECONFIG
to run the cluster tests against an existing cluster (kind, k3d, a cloud cluster) instead of
the sandbox; MODELSHIP_TEST_S3_ENDPOINT (+ AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) does the
same for S3.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelship.dev.s3 import DEFAULT_REGION, S3Server, s3_client

pytest_plugins = ["tests.cluster_fixtures"]


@dataclass(frozen=True)
class ExternalS3:
    """An S3 endpoint given by the environment instead of one this session starts."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str

    def client(self) -> Any:
        return s3_client(self.endpoint, self.region, self.access_key, self.secret_key)

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server | ExternalS3]:
    """A real S3-compatible server on 127.0.0.1 for the whole session."""
    external = os.environ.get("MODELSHIP_TEST_S3_ENDPOINT")
    if external:
        yield ExternalS3(
            endpoint=external,
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            region=os.environ.get("AWS_REGION", DEFAULT_REGION),
        )
        return
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server | ExternalS3) -> str:
    """The name of a fresh, empty bucket."""
    name = f"test-{secrets.token_hex(6)}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
