"""A ModelDeployment with one published version on the test bed's S3 server, for the chart's
integration tests that run the operator end to end (RBAC, helm upgrade)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelship.artifacts import (
    ArtifactStore,
    ModelInfo,
    S3Settings,
    make_s3_client,
    parse_storage_uri,
)

SECRET = "s3-credentials"


def publish_version(s3_server: Any, bucket: str, model: str, folder: Path) -> str:
    """Publishes a tiny version 1 (simulated pods never load it) and returns its storageUri."""
    uri = f"s3://{bucket}/models/{model}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_bytes(b"not a real graph: pods are simulated")
    (folder / "variables").mkdir(exist_ok=True)
    (folder / "variables" / "variables.index").write_bytes(b"\x00" * 16)
    client = make_s3_client(
        S3Settings(
            endpoint=s3_server.endpoint,
            region=s3_server.region,
            access_key_id=s3_server.access_key,
            secret_access_key=s3_server.secret_key,
        )
    )
    ArtifactStore(client, parse_storage_uri(uri)).push(folder, model=ModelInfo("none", "-", ()))
    return uri


def s3_secret(s3_server: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET},
        "stringData": {
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        },
    }


def model_deployment(name: str, uri: str, s3_server: Any, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"storageUri": uri},
            "storage": {
                "endpoint": s3_server.endpoint,
                "region": s3_server.region,
                "secretRef": {"name": SECRET},
                "pollInterval": "5s",
            },
            "serving": {"replicas": replicas},
        },
    }


def is_available(deployment: dict[str, Any] | None) -> bool:
    conditions = (deployment or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)
