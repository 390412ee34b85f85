"""Small chained builders for the objects the reconcile tests need: ModelDeployments, the
store's versions, observed serving Deployments and their pods."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from modelship.api import ModelDeploymentSpec, parse_spec
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.deployment import serving_deployment
from modelship.reconcile.owner import (
    ANNOTATION_DIGEST,
    LABEL_VERSION,
    SERVING,
    Owner,
    object_labels,
)
from modelship.reconcile.versions import TargetVersion

NOW = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)
NAMESPACE = "ml"
UID = "6f1c2d3e-0000-4000-8000-000000000001"


def digest_of(version: int) -> str:
    return "sha256:" + f"{version:02d}" * 32


class ModelDeploymentBuilder:
    """`model_deployment("digits").gpus(1, product="...").replicas(2).obj()`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._generation = 1
        self._spec: dict[str, Any] = {
            "model": {"storageUri": f"s3://models/{name}"},
            "storage": {},
            "serving": {},
        }

    def _set(self, section: str, key: str, value: Any) -> ModelDeploymentBuilder:
        self._spec.setdefault(section, {})[key] = value
        return self

    def pinned(self, version: int) -> ModelDeploymentBuilder:
        return self._set("model", "version", version)

    def model_name(self, name: str) -> ModelDeploymentBuilder:
        return self._set("model", "name", name)

    def storage_uri(self, uri: str) -> ModelDeploymentBuilder:
        return self._set("model", "storageUri", uri)

    def endpoint(self, url: str) -> ModelDeploymentBuilder:
        return self._set("storage", "endpoint", url)

    def region(self, region: str) -> ModelDeploymentBuilder:
        return self._set("storage", "region", region)

    def secret(self, name: str, **keys: str) -> ModelDeploymentBuilder:
        return self._set("storage", "secretRef", {"name": name, **keys})

    def replicas(self, n: int) -> ModelDeploymentBuilder:
        return self._set("serving", "replicas", n)

    def image(self, image: str) -> ModelDeploymentBuilder:
        return self._set("serving", "image", image)

    def port(self, port: int) -> ModelDeploymentBuilder:
        return self._set("serving", "port", port)

    def protocols(self, *names: str, grpc_port: int | None = None) -> ModelDeploymentBuilder:
        if grpc_port is not None:
            self._set("serving", "grpcPort", grpc_port)
        return self._set("serving", "protocols", list(names))

    def resources(self, **sections: dict[str, str]) -> ModelDeploymentBuilder:
        return self._set("serving", "resources", sections)

    def gpus(
        self, count: int, *, product: str | None = None, resource_name: str | None = None
    ) -> ModelDeploymentBuilder:
        gpu: dict[str, Any] = {"count": count}
        if product is not None:
            gpu["product"] = product
        if resource_name is not None:
            gpu["resourceName"] = resource_name
        return self._set("serving", "gpu", gpu)

    def node_selector(self, **labels: str) -> ModelDeploymentBuilder:
        return self._set("serving", "nodeSelector", labels)

    def tolerations(self, *tolerations: dict[str, Any]) -> ModelDeploymentBuilder:
        return self._set("serving", "tolerations", list(tolerations))

    def batching(self, max_batch_size: int, timeout_micros: int) -> ModelDeploymentBuilder:
        return self._set(
            "serving",
            "batching",
            {"maxBatchSize": max_batch_size, "batchTimeoutMicros": timeout_micros},
        )

    def progress_deadline(self, duration: str) -> ModelDeploymentBuilder:
        return self._set("serving", "progressDeadline", duration)

    def rollout(self, max_surge: int | str, max_unavailable: int | str) -> ModelDeploymentBuilder:
        self._spec["rollout"] = {"maxSurge": max_surge, "maxUnavailable": max_unavailable}
        return self

    def capture(
        self, storage_uri: str = "s3://captures/digits", **fields: Any
    ) -> ModelDeploymentBuilder:
        """spec.monitoring.capture with `fields` (camelCase, as in the resource)."""
        self._spec["monitoring"] = {"capture": {"storageUri": storage_uri, **fields}}
        return self

    def generation(self, generation: int) -> ModelDeploymentBuilder:
        self._generation = generation
        return self

    def obj(self) -> dict[str, Any]:
        return {
            "apiVersion": "modelship.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {
                "name": self._name,
                "namespace": NAMESPACE,
                "uid": UID,
                "generation": self._generation,
            },
            "spec": copy.deepcopy(self._spec),
        }

    def spec(self) -> ModelDeploymentSpec:
        return parse_spec(self.obj()["spec"], name=self._name)

    def owner(self) -> Owner:
        return Owner(self._name, NAMESPACE, UID)


def model_deployment(name: str = "digits") -> ModelDeploymentBuilder:
    return ModelDeploymentBuilder(name)


def version(
    number: int,
    state: str = "complete",
    *,
    reason: str | None = None,
    message: str | None = None,
    metrics: dict[str, float] | None = None,
) -> VersionInfo:
    """A version as `ArtifactStore.list_versions()` reports it."""
    complete_or_corrupt = state != "incomplete"
    return VersionInfo(
        number=number,
        state=state,  # type: ignore[arg-type]
        manifest=None,
        digest=digest_of(number) if complete_or_corrupt else None,
        size=1000 + number,
        created=f"2025-04-{number:02d}T00:00:00Z" if complete_or_corrupt else None,
        metrics=metrics or {},
        reason=reason,
        message=message,
    )


def target(number: int) -> TargetVersion:
    return TargetVersion(number, digest_of(number))


class DeploymentBuilder:
    """An observed serving Deployment, as the operator built it plus the cluster's status."""

    def __init__(self, md: ModelDeploymentBuilder, version_number: int) -> None:
        self._obj = serving_deployment(md.owner(), md.spec(), target(version_number))
        self._obj["metadata"]["generation"] = 1
        self._obj["status"] = {"observedGeneration": 1, "conditions": []}

    def not_yet_observed(self) -> DeploymentBuilder:
        self._obj["metadata"]["generation"] = 2
        return self

    def just_created(self) -> DeploymentBuilder:
        """As the Deployment controller's first status write leaves a new one: its
        ReplicaSet made, no observedGeneration yet."""
        self._obj["status"] = {
            "conditions": [
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated"}
            ]
        }
        return self

    def progress_deadline_exceeded(self) -> DeploymentBuilder:
        self._obj["status"]["conditions"].append(
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "digits-serving-7d9f" has timed out progressing.',
            }
        )
        return self

    def replica_failure(self, message: str) -> DeploymentBuilder:
        self._obj["status"]["conditions"].append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": message,
            }
        )
        return self

    def obj(self) -> dict[str, Any]:
        return copy.deepcopy(self._obj)


def deployment(md: ModelDeploymentBuilder, version_number: int) -> DeploymentBuilder:
    return DeploymentBuilder(md, version_number)


class PodBuilder:
    """A serving pod: `pod("digits-serving-abc").version(2).crash_looping(exit_code=1).obj()`.

    It starts scheduled with both containers running and ready."""

    def __init__(self, name: str) -> None:
        owner = Owner("digits", NAMESPACE, UID)
        self._obj: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": object_labels(owner, SERVING, "digits"),
                "annotations": {},
                "creationTimestamp": _ts(NOW - timedelta(minutes=1)),
            },
            "spec": {
                "initContainers": [{"name": "pull", "image": "ghcr.io/modelship/server:0.1.0"}],
                "containers": [{"name": "server", "image": "ghcr.io/modelship/server:0.1.0"}],
            },
            "status": {"phase": "Running", "conditions": []},
        }
        self._init = {
            "name": "pull",
            "image": "ghcr.io/modelship/server:0.1.0",
            "ready": True,
            "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
        }
        self._server: dict[str, Any] = {
            "name": "server",
            "image": "ghcr.io/modelship/server:0.1.0",
            "ready": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": _ts(NOW)}},
        }
        self._scheduled: dict[str, Any] = {"type": "PodScheduled", "status": "True"}
        self._ready = True

    def version(self, number: int) -> PodBuilder:
        self._obj["metadata"]["labels"][LABEL_VERSION] = str(number)
        self._obj["metadata"]["annotations"][ANNOTATION_DIGEST] = digest_of(number)
        return self

    def created(self, ago: timedelta) -> PodBuilder:
        self._obj["metadata"]["creationTimestamp"] = _ts(NOW - ago)
        return self

    def memory_limit(self, limit: str) -> PodBuilder:
        self._obj["spec"]["containers"][0]["resources"] = {"limits": {"memory": limit}}
        return self

    def starting(self) -> PodBuilder:
        """Running, but the model is still loading: not ready."""
        self._ready = False
        self._server["ready"] = False
        return self

    def pulling(self) -> PodBuilder:
        self._ready = False
        self._obj["status"]["phase"] = "Pending"
        self._init["state"] = {"running": {"startedAt": _ts(NOW)}}
        self._init["ready"] = False
        self._server["ready"] = False
        self._server["state"] = {"waiting": {"reason": "PodInitializing"}}
        return self

    def unschedulable(
        self,
        message: str = "0/6 nodes are available: 6 Insufficient nvidia.com/gpu.",
        *,
        since: timedelta = timedelta(minutes=1),
    ) -> PodBuilder:
        self._ready = False
        self._obj["status"] = {"phase": "Pending", "conditions": []}
        self._scheduled = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastTransitionTime": _ts(NOW - since),
        }
        self._init = self._server = {}
        return self

    def crash_looping(
        self,
        *,
        exit_code: int = 1,
        restarts: int = 4,
        reason: str = "Error",
        message: str | None = None,
    ) -> PodBuilder:
        self._ready = False
        self._server.update(
            ready=False,
            restartCount=restarts,
            state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            lastState={"terminated": {"exitCode": exit_code, "reason": reason}},
        )
        if message is not None:
            self._server["lastState"]["terminated"]["message"] = message
        return self

    def oom_killed(self, restarts: int = 2) -> PodBuilder:
        return self.crash_looping(exit_code=137, restarts=restarts, reason="OOMKilled")

    def image_pull_back_off(self, image: str = "ghcr.io/modelship/server:typo") -> PodBuilder:
        return self._waiting("ImagePullBackOff", f'Back-off pulling image "{image}"', image)

    def err_image_pull(self, image: str = "ghcr.io/modelship/server:typo") -> PodBuilder:
        return self._waiting("ErrImagePull", "manifest unknown", image)

    def _waiting(self, reason: str, message: str, image: str) -> PodBuilder:
        self._ready = False
        self._obj["status"]["phase"] = "Pending"
        self._init.update(
            ready=False, image=image, state={"waiting": {"reason": reason, "message": message}}
        )
        self._server.update(
            ready=False, image=image, state={"waiting": {"reason": "PodInitializing"}}
        )
        return self

    def init_failed(
        self, message: str, *, exit_code: int = 1, backing_off: bool = True
    ) -> PodBuilder:
        """The pull failed; with `backing_off` the kubelet waits before the next try."""
        self._ready = False
        self._obj["status"]["phase"] = "Pending"
        terminated = {"exitCode": exit_code, "reason": "Error", "message": message}
        if backing_off:
            self._init.update(
                ready=False,
                restartCount=3,
                state={"waiting": {"reason": "CrashLoopBackOff"}},
                lastState={"terminated": terminated},
            )
        else:
            self._init.update(ready=False, state={"terminated": terminated})
        self._server.update(ready=False, state={"waiting": {"reason": "PodInitializing"}})
        return self

    def config_error(self, message: str = 'secret "s3-creds" not found') -> PodBuilder:
        self._ready = False
        self._obj["status"]["phase"] = "Pending"
        self._init.update(
            ready=False,
            state={"waiting": {"reason": "CreateContainerConfigError", "message": message}},
        )
        return self

    def terminating(self) -> PodBuilder:
        self._obj["metadata"]["deletionTimestamp"] = _ts(NOW)
        return self

    def obj(self) -> dict[str, Any]:
        pod = copy.deepcopy(self._obj)
        status = pod["status"]
        status["conditions"] = [
            dict(self._scheduled),
            {"type": "Ready", "status": "True" if self._ready else "False"},
        ]
        if self._init:
            status["initContainerStatuses"] = [copy.deepcopy(self._init)]
        if self._server:
            status["containerStatuses"] = [copy.deepcopy(self._server)]
        return pod


def pod(name: str) -> PodBuilder:
    return PodBuilder(name)


def ready_pods(version_number: int, count: int, prefix: str = "") -> list[dict[str, Any]]:
    """`count` ready pods of one version."""
    return [
        pod(f"digits-serving-{prefix or f'v{version_number}'}-{i}").version(version_number).obj()
        for i in range(count)
    ]


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
