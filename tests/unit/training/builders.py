"""A chained builder for ModelDeployments with a training section:
`trained("digits").workers(3).gpus(1, product="NVIDIA-H100-80GB-HBM3").gate("accuracy", 0.9)`.
"""

from __future__ import annotations

import copy
from typing import Any

from modelship.api import ModelDeploymentSpec, parse_spec
from modelship.reconcile.owner import Owner
from tests.unit.reconcile.builders import NAMESPACE, UID

ENTRYPOINT = "digits.train:train"


class TrainedModelBuilder:
    def __init__(self, name: str) -> None:
        self._name = name
        self._spec: dict[str, Any] = {
            "model": {"storageUri": f"s3://models/{name}"},
            "training": {"entrypoint": ENTRYPOINT},
        }

    def _train(self, key: str, value: Any) -> TrainedModelBuilder:
        self._spec["training"][key] = value
        return self

    def entrypoint(self, entrypoint: str) -> TrainedModelBuilder:
        return self._train("entrypoint", entrypoint)

    def image(self, image: str) -> TrainedModelBuilder:
        return self._train("image", image)

    def workers(self, n: int) -> TrainedModelBuilder:
        return self._train("workers", n)

    def gpus(
        self, count: int, *, product: str | None = None, resource_name: str | None = None
    ) -> TrainedModelBuilder:
        gpu: dict[str, Any] = {"count": count}
        if product is not None:
            gpu["product"] = product
        if resource_name is not None:
            gpu["resourceName"] = resource_name
        return self._train("gpu", gpu)

    def resources(self, **sections: dict[str, str]) -> TrainedModelBuilder:
        return self._train("resources", sections)

    def data(self, uri: str) -> TrainedModelBuilder:
        return self._train("dataUri", uri)

    def args(self, *args: str) -> TrainedModelBuilder:
        return self._train("args", list(args))

    def env(self, *variables: dict[str, Any]) -> TrainedModelBuilder:
        return self._train("env", list(variables))

    def schedule(self, cron: str) -> TrainedModelBuilder:
        return self._train("schedule", cron)

    def gate(
        self, metric: str, minimum: float | None = None, *, must_improve: bool = False
    ) -> TrainedModelBuilder:
        gate: dict[str, Any] = {"metric": metric}
        if minimum is not None:
            gate["min"] = minimum
        if must_improve:
            gate["mustImprove"] = True
        return self._train("gate", gate)

    def backoff_limit(self, n: int) -> TrainedModelBuilder:
        return self._train("backoffLimit", n)

    def deadline(self, duration: str) -> TrainedModelBuilder:
        return self._train("activeDeadline", duration)

    def secret(self, name: str, **keys: str) -> TrainedModelBuilder:
        self._spec.setdefault("storage", {})["secretRef"] = {"name": name, **keys}
        return self

    def endpoint(self, url: str) -> TrainedModelBuilder:
        self._spec.setdefault("storage", {})["endpoint"] = url
        return self

    def pinned(self, version: int) -> TrainedModelBuilder:
        self._spec["model"]["version"] = version
        return self

    def model_name(self, name: str) -> TrainedModelBuilder:
        self._spec["model"]["name"] = name
        return self

    def capture(self, storage_uri: str) -> TrainedModelBuilder:
        self._spec["monitoring"] = {"capture": {"storageUri": storage_uri}}
        return self

    def untrained(self) -> TrainedModelBuilder:
        del self._spec["training"]
        return self

    def spec(self) -> ModelDeploymentSpec:
        return parse_spec(copy.deepcopy(self._spec), name=self._name)

    def owner(self) -> Owner:
        return Owner(self._name, NAMESPACE, UID)


def trained(name: str = "digits") -> TrainedModelBuilder:
    return TrainedModelBuilder(name)
