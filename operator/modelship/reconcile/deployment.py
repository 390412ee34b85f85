"""The serving Deployment `<md>-serving`: one version's pods, each an init container that
pulls and verifies the version into an emptyDir and the server container that serves it.

Its pod template changes per version (labels, digest annotation, pull arguments), and a
rolling update with maxUnavailable 0 keeps the old version serving until the new one is Ready.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from modelship.api import ModelDeploymentSpec, ServingSpec
from modelship.reconcile.capture import capture_args, capture_env
from modelship.reconcile.gpu import gpu_pod_fields
from modelship.reconcile.owner import (
    ANNOTATION_DIGEST,
    CANARY_TRACK,
    LABEL_TRACK,
    LABEL_VERSION,
    SERVING,
    Owner,
    object_labels,
    owned_metadata,
    selector_labels,
)
from modelship.reconcile.podsecurity import container_security_context, pod_security_context
from modelship.reconcile.storage import storage_env
from modelship.reconcile.versions import TargetVersion

DEFAULT_SERVING_IMAGE: Final = "ghcr.io/modelship/server:0.1.0"
PULL_CONTAINER: Final = "pull"
SERVER_CONTAINER: Final = "server"
PORT_NAME: Final = "http"
GRPC_PORT_NAME: Final = "grpc"
MODELS_DIR: Final = "/models"
SCRATCH_DIR: Final = "/tmp"
READY_PATH: Final = "/v2/health/ready"
LIVE_PATH: Final = "/v2/health/live"
REVISION_HISTORY: Final = 3
# How a serving pod leaves without failing a request. Removing a pod from a Service's endpoints
# and sending it SIGTERM happen at the same time, and every node's kube-proxy (or a mesh, or a
# load balancer) needs a moment to stop routing to it: the preStop sleep keeps it answering
# through that moment. Then SIGTERM makes the server finish what is in flight (new
# connections are refused by then); the grace period covers the sleep and that drain.
DRAIN_DELAY_SECONDS: Final = 5
TERMINATION_GRACE_SECONDS: Final = 45
# Resources the pull may share with the server: the pod is sized by the larger of the init
# container and the server, so repeating the user's CPU/memory costs nothing and satisfies a
# namespace quota that insists on them. Accelerators are left to the server alone.
_PULL_RESOURCES: Final = ("cpu", "memory", "ephemeral-storage")


@dataclass(frozen=True)
class ServingSettings:
    """The operator's own settings for serving (from its command line / Helm values)."""

    default_image: str = DEFAULT_SERVING_IMAGE


def serving_deployment_name(md_name: str) -> str:
    return f"{md_name}-serving"


def canary_deployment_name(md_name: str) -> str:
    return f"{md_name}-canary"


def serving_deployment(
    owner: Owner,
    spec: ModelDeploymentSpec,
    target: TargetVersion,
    settings: ServingSettings | None = None,
    *,
    replicas: int | None = None,
) -> dict[str, Any]:
    """The Deployment serving `target`, ready for server-side apply. `replicas` overrides
    spec.serving.replicas (a canary rollout shares them between two Deployments)."""
    settings = settings or ServingSettings()
    serving = spec.serving
    model = spec.model.name or owner.name
    image = serving.image or settings.default_image
    version_dir = f"{MODELS_DIR}/{model}/{target.number}"
    gpu = gpu_pod_fields(
        serving.gpu,
        resources=serving.resources,
        node_selector=serving.node_selector,
        tolerations=serving.tolerations,
    )
    mounts = [
        {"name": "models", "mountPath": MODELS_DIR},
        {"name": "tmp", "mountPath": SCRATCH_DIR},
    ]
    home = {"name": "HOME", "value": SCRATCH_DIR}

    pull: dict[str, Any] = {
        "name": PULL_CONTAINER,
        "image": image,
        "command": ["modelship"],
        "args": [
            "pull",
            spec.model.storage_uri,
            "--version",
            str(target.number),
            version_dir,
        ],
        "env": [home, *storage_env(spec.storage)],
        "volumeMounts": mounts,
        "securityContext": container_security_context(),
        # `modelship pull` writes "<Reason>: <sentence>" to the termination log; a crash
        # before that still leaves the end of its output in the pod's status.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pull_resources = _without_accelerators(serving.resources)
    if pull_resources:
        pull["resources"] = pull_resources

    server: dict[str, Any] = {
        "name": SERVER_CONTAINER,
        "image": image,
        "command": ["modelship"],
        "args": [
            "serve",
            "--model-name",
            model,
            "--model-base-path",
            f"{MODELS_DIR}/{model}",
            "--port",
            str(serving.port),
            "--host",
            "0.0.0.0",
            "--max-batch-size",
            str(serving.batching.max_batch_size),
            "--batch-timeout-micros",
            str(serving.batching.batch_timeout_micros),
            *_protocol_args(serving),
            *capture_args(spec),
        ],
        "env": [home, *capture_env(spec)],
        "ports": _container_ports(serving),
        # Ready only once the model is loaded and warmed up, so a rollout never sends traffic
        # to a pod still loading; live as soon as the HTTP server answers.
        "readinessProbe": _probe(READY_PATH, period=5, failures=3),
        "livenessProbe": _probe(LIVE_PATH, period=10, failures=6),
        "lifecycle": {"preStop": {"sleep": {"seconds": DRAIN_DELAY_SECONDS}}},
        "volumeMounts": mounts,
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if gpu.resources:
        server["resources"] = gpu.resources

    pod_spec: dict[str, Any] = {
        # The pods never talk to the Kubernetes API.
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": pod_security_context(),
        "initContainers": [pull],
        "containers": [server],
        "volumes": [{"name": "models", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    if gpu.node_selector:
        pod_spec["nodeSelector"] = gpu.node_selector
    if gpu.tolerations:
        pod_spec["tolerations"] = gpu.tolerations

    pod_labels = object_labels(owner, SERVING, model, target.number)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": owned_metadata(owner, serving_deployment_name(owner.name), pod_labels),
        "spec": {
            "replicas": serving.replicas if replicas is None else replicas,
            "selector": {"matchLabels": selector_labels(owner, SERVING)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": spec.rollout.max_surge,
                    "maxUnavailable": spec.rollout.max_unavailable,
                },
            },
            "progressDeadlineSeconds": max(1, math.ceil(serving.progress_deadline)),
            "revisionHistoryLimit": REVISION_HISTORY,
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {ANNOTATION_DIGEST: target.digest},
                },
                "spec": pod_spec,
            },
        },
    }


def canary_deployment(
    owner: Owner,
    spec: ModelDeploymentSpec,
    target: TargetVersion,
    replicas: int,
    settings: ServingSettings | None = None,
) -> dict[str, Any]:
    """The canary Deployment `<md>-canary`: the same pods as the stable Deployment's, plus the
    label modelship.io/track=canary (in its selector too, so the stable Deployment's
    ReplicaSets never count them), behind the same Service. Recreate: a new canary version
    replaces the old canary's pods without a surge, which the GPU budget could not afford."""
    deployment = serving_deployment(owner, spec, target, settings, replicas=replicas)
    deployment["metadata"]["name"] = canary_deployment_name(owner.name)
    deployment_spec = deployment["spec"]
    deployment_spec["selector"]["matchLabels"][LABEL_TRACK] = CANARY_TRACK
    deployment_spec["template"]["metadata"]["labels"][LABEL_TRACK] = CANARY_TRACK
    deployment_spec["strategy"] = {"type": "Recreate"}
    deadline = spec.rollout.progress_deadline or spec.serving.progress_deadline
    deployment_spec["progressDeadlineSeconds"] = max(1, math.ceil(deadline))
    return deployment


def deployed_version(deployment: Mapping[str, Any] | None) -> TargetVersion | None:
    """The version (and digest) an observed serving Deployment's pod template runs."""
    template = (((deployment or {}).get("spec") or {}).get("template") or {}).get("metadata") or {}
    version = (template.get("labels") or {}).get(LABEL_VERSION)
    digest = (template.get("annotations") or {}).get(ANNOTATION_DIGEST)
    if not (isinstance(version, str) and version.isdigit() and digest):
        return None
    return TargetVersion(int(version), str(digest))


def serves_grpc(serving: ServingSpec) -> bool:
    return "grpc" in serving.protocols


def _protocol_args(serving: ServingSpec) -> list[str]:
    args = ["--grpc-port", str(serving.grpc_port)] if serves_grpc(serving) else ["--no-grpc"]
    if "rest" not in serving.protocols:
        args.append("--no-rest")  # the HTTP port stays for the probes and /metrics
    return args


def _container_ports(serving: ServingSpec) -> list[dict[str, Any]]:
    ports = [{"name": PORT_NAME, "containerPort": serving.port, "protocol": "TCP"}]
    if serves_grpc(serving):
        ports.append(
            {"name": GRPC_PORT_NAME, "containerPort": serving.grpc_port, "protocol": "TCP"}
        )
    return ports


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
        "successThreshold": 1,
    }


def _without_accelerators(resources: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for section in ("requests", "limits"):
        values = {k: v for k, v in (resources.get(section) or {}).items() if k in _PULL_RESOURCES}
        if values:
            kept[section] = values
    return kept
