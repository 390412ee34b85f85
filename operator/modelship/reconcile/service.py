"""The Service `<md>` in front of the serving pods, whatever version they run (one version
during a blue-green rollout, and the preview Service `<md>-preview` beside it; with Gateway API
traffic, `<md>-stable` and `<md>-canary` beside it, one version each); its name and
ports make the endpoint `http://<md>.<ns>.svc.cluster.local:<port>/v1/models/<model>` and
the gRPC target `<md>.<ns>.svc.cluster.local:<grpcPort>`."""

from __future__ import annotations

from typing import Any

from modelship.api import ModelDeploymentSpec
from modelship.reconcile.deployment import GRPC_PORT_NAME, PORT_NAME, serves_grpc
from modelship.reconcile.owner import (
    CANARY_TRACK,
    LABEL_TRACK,
    LABEL_VERSION,
    SERVING,
    Owner,
    object_labels,
    owned_metadata,
    selector_labels,
)


def serving_service(
    owner: Owner, spec: ModelDeploymentSpec, version: int | None = None
) -> dict[str, Any]:
    """The ClusterIP Service selecting the serving pods, ready for server-side apply; with
    `version` (a blue-green rollout), only that version's pods, so a switch is one write."""
    model = spec.model.name or owner.name
    ports = [
        {"name": PORT_NAME, "port": spec.serving.port, "targetPort": PORT_NAME, "protocol": "TCP"}
    ]
    if serves_grpc(spec.serving):
        ports.append(
            {
                "name": GRPC_PORT_NAME,
                "port": spec.serving.grpc_port,
                "targetPort": GRPC_PORT_NAME,
                "protocol": "TCP",
            }
        )
    selector = selector_labels(owner, SERVING)
    if version is not None:
        selector[LABEL_VERSION] = str(version)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owned_metadata(owner, owner.name, object_labels(owner, SERVING, model)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": ports,
        },
    }


def preview_service(owner: Owner, spec: ModelDeploymentSpec) -> dict[str, Any]:
    """The Service `<md>-preview` of a blue-green rollout: the new version's pods (the canary
    Deployment's) before they take the traffic of `<md>`, for tests and the analysis."""
    service = serving_service(owner, spec)
    service["metadata"]["name"] = preview_service_name(owner.name)
    service["spec"]["selector"] = {**selector_labels(owner, SERVING), LABEL_TRACK: CANARY_TRACK}
    return service


def version_service(
    owner: Owner, spec: ModelDeploymentSpec, name: str, version: int | None
) -> dict[str, Any]:
    """A Service selecting one version's serving pods, from whichever Deployment runs them:
    `<md>-stable` and `<md>-canary`, the backends of a user's HTTPRoute (spec.rollout.traffic
    GatewayAPI); with no version known yet, every serving pod."""
    service = serving_service(owner, spec, version)
    service["metadata"]["name"] = name
    return service


def preview_service_name(md_name: str) -> str:
    return f"{md_name}-preview"


def serving_endpoint(owner: Owner, spec: ModelDeploymentSpec) -> str:
    """The URL clients call (TF Serving's REST API)."""
    model = spec.model.name or owner.name
    return (
        f"http://{owner.name}.{owner.namespace}.svc.cluster.local:{spec.serving.port}"
        f"/v1/models/{model}"
    )


def serving_grpc_endpoint(owner: Owner, spec: ModelDeploymentSpec) -> str | None:
    """The gRPC target clients dial (host:port, plaintext), or None when gRPC is off."""
    if not serves_grpc(spec.serving):
        return None
    return f"{owner.name}.{owner.namespace}.svc.cluster.local:{spec.serving.grpc_port}"
