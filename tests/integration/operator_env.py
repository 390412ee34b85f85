"""A ModelDeployment's world for operator tests: a bucket with published versions, the S3
Secret in the namespace, and the operator running as a process watching that namespace."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.artifacts import ArtifactStore, VersionInfo, parse_storage_uri
from tests.cluster_fixtures import KubeCluster, OperatorProcess, wait_for
from tests.resources import ModelDeploymentBuilder, model_deployment, s3_secret

OPERATOR_ENV = {
    "MODELSHIP_BIND_ADDRESS": "127.0.0.1",
    "MODELSHIP_METRICS_PORT": "0",
    "MODELSHIP_HEALTH_PORT": "0",
}


@dataclass
class ModelWorld:
    cluster: KubeCluster
    namespace: str
    s3: Any
    bucket: str
    saved_model: Path
    operator: OperatorProcess | None = None
    prefix: str = "models/digits"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def store(self) -> ArtifactStore:
        return ArtifactStore(self.s3.client(), parse_storage_uri(self.uri))

    def publish(self, metrics: dict[str, float] | None = None) -> VersionInfo:
        return self.store().push(self.saved_model, metrics=metrics or {"accuracy": 0.9})

    def model_deployment(self, name: str = "digits") -> ModelDeploymentBuilder:
        return model_deployment(name).storage(
            self.uri, endpoint=self.s3.endpoint, secret="s3-creds", poll="5s"
        )

    def add_secret(self) -> None:
        self.cluster.apply(
            s3_secret("s3-creds", self.s3.access_key, self.s3.secret_key), namespace=self.namespace
        )

    def md(self, name: str = "digits") -> dict[str, Any]:
        obj = self.cluster.get("modeldeployment", name, self.namespace)
        assert obj is not None, f"ModelDeployment {name} is gone"
        return obj

    def status(self, name: str = "digits") -> dict[str, Any]:
        return self.md(name).get("status") or {}

    def condition(self, type_: str, name: str = "digits") -> dict[str, Any]:
        for cond in self.status(name).get("conditions", []):
            if cond["type"] == type_:
                return cond  # type: ignore[no-any-return]
        return {}

    def wait_status(
        self,
        check: Callable[[dict[str, Any]], Any],
        what: str,
        name: str = "digits",
        timeout: float = 60,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status = self.status(name)
            return status if check(status) else None

        try:
            return wait_for(probe, timeout=timeout, what=what)  # type: ignore[no-any-return]
        except AssertionError:
            log = self.operator.output()[-4000:] if self.operator else ""
            raise AssertionError(
                f"timed out waiting for {what}; status: {self.status(name)}\noperator log:\n{log}"
            ) from None

    def events(self, name: str = "digits") -> list[dict[str, Any]]:
        """The Events posted on the ModelDeployment, as `kubectl get events` lists them."""
        listed = self.cluster.kubectl(
            "get",
            "events",
            "-n",
            self.namespace,
            "--field-selector",
            f"involvedObject.kind=ModelDeployment,involvedObject.name={name}",
            "-o",
            "json",
        )
        return json.loads(listed.stdout)["items"]  # type: ignore[no-any-return]

    def pods(self, name: str = "digits") -> list[dict[str, Any]]:
        return self.cluster.list(
            "pods",
            self.namespace,
            f"app.kubernetes.io/instance={name},app.kubernetes.io/component=serving",
        )


def condition_of(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


def is_ready_with(version: int) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        return (
            condition_of(status, "Ready").get("status") == "True"
            and status.get("currentVersion") == version
        )

    return check
