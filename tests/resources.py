"""Builders for the Kubernetes objects tests apply: `model_deployment("digits").gpus(1).obj()`."""

from __future__ import annotations

import base64
import copy
from typing import Any

from modelship.api import GROUP, KIND, VERSION


class ModelDeploymentBuilder:
    def __init__(self, name: str) -> None:
        self._obj: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name},
            "spec": {"model": {}, "storage": {"pollInterval": "5s"}, "serving": {"replicas": 1}},
        }

    @property
    def spec(self) -> dict[str, Any]:
        return self._obj["spec"]  # type: ignore[no-any-return]

    def storage(
        self, uri: str, endpoint: str | None = None, secret: str | None = None, poll: str = "5s"
    ) -> ModelDeploymentBuilder:
        self.spec["model"]["storageUri"] = uri
        storage = self.spec["storage"]
        storage["pollInterval"] = poll
        if endpoint:
            storage["endpoint"] = endpoint
        if secret:
            storage["secretRef"] = {"name": secret}
        return self

    def version(self, number: int | None) -> ModelDeploymentBuilder:
        if number is None:
            self.spec["model"].pop("version", None)
        else:
            self.spec["model"]["version"] = number
        return self

    def replicas(self, count: int) -> ModelDeploymentBuilder:
        self.spec["serving"]["replicas"] = count
        return self

    def gpus(self, count: int, product: str | None = None) -> ModelDeploymentBuilder:
        gpu: dict[str, Any] = {"count": count}
        if product:
            gpu["product"] = product
        self.spec["serving"]["gpu"] = gpu
        return self

    def image(self, image: str) -> ModelDeploymentBuilder:
        self.spec["serving"]["image"] = image
        return self

    def progress_deadline(self, duration: str) -> ModelDeploymentBuilder:
        self.spec["serving"]["progressDeadline"] = duration
        return self

    def set(self, path: str, value: Any) -> ModelDeploymentBuilder:
        """Sets any field by dotted path under spec, e.g. set("serving.replicas", -1)."""
        node = self.spec
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
        return self

    def obj(self) -> dict[str, Any]:
        return copy.deepcopy(self._obj)


def model_deployment(name: str) -> ModelDeploymentBuilder:
    return ModelDeploymentBuilder(name)


def s3_secret(name: str, access_key: str, secret_key: str) -> dict[str, Any]:
    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": {"AWS_ACCESS_KEY_ID": b64(access_key), "AWS_SECRET_ACCESS_KEY": b64(secret_key)},
    }
