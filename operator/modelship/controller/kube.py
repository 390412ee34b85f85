"""The operator's only door to the Kubernetes API: read what it observes, apply what it
decided (server-side apply, field manager `modelship`), write status.

Calls are synchronous (the official client) and run in the operator's own sized thread pool
(`Operator.in_thread`), so one slow API call never blocks kopf's event loop and the
Kubernetes calls never wait behind S3 listings (those have their own pools).

Reads of owned objects come from the watch-fed cache (controller/cache.py); `get` here is
for what is not cached (the leader-election Lease).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from modelship import __version__
from modelship.api import GROUP, PLURAL, VERSION
from modelship.controller import metrics

FIELD_MANAGER: Final = "modelship"

# apiVersion/kind -> (path prefix, plural) for the kinds the operator owns or reads.
_KINDS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("v1", "Service"): ("/api/v1", "services"),
    ("v1", "Secret"): ("/api/v1", "secrets"),
    ("v1", "Pod"): ("/api/v1", "pods"),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments"),
    ("batch/v1", "Job"): ("/apis/batch/v1", "jobs"),
    (f"{GROUP}/{VERSION}", "ModelDeployment"): (f"/apis/{GROUP}/{VERSION}", PLURAL),
    ("coordination.k8s.io/v1", "Lease"): ("/apis/coordination.k8s.io/v1", "leases"),
    ("v1", "Event"): ("/api/v1", "events"),
    # The user's route whose weights a GatewayAPI canary writes (read and patched, never
    # applied: see reconcile/traffic.py).
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): (
        "/apis/gateway.networking.k8s.io/v1",
        "httproutes",
    ),
}


def object_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    prefix, plural = _KINDS[(api_version, kind)]
    path = f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def resource_of(path: str) -> str:
    """ "deployments" for .../namespaces/ns/deployments[/name], "x/status" for a subresource."""
    parts = path.strip("/").split("/")
    after = parts[parts.index("namespaces") + 2 :] if "namespaces" in parts else parts[-1:]
    return "/".join([after[0], *after[2:3]])


@dataclass
class Kube:
    """A thin client: every method is one API call, returning plain dicts."""

    api: k8s.ApiClient

    @classmethod
    def from_environment(cls, connections: int = 4) -> Kube:
        """A client for the cluster this runs in (else the kubeconfig's), keeping up to
        `connections` connections open: one per thread that calls it. (The client's default,
        5 per CPU, was 10 on a 2-CPU pod for 16 API threads, and every connection beyond it
        was dropped after one request, so a burst of writes paid a TLS handshake each.)"""
        try:
            k8s_config.load_incluster_config()
        except k8s_config.ConfigException:
            k8s_config.load_kube_config()
        configuration = k8s.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = connections
        api_client = k8s.ApiClient(configuration)
        # Named in the API server's audit log (the client's default names only the generator).
        api_client.user_agent = f"modelship-operator/{__version__}"
        return cls(api_client)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        request = self.api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        metrics.API_REQUESTS.labels(verb=method, resource=resource_of(path)).inc()
        with metrics.API_REQUEST_DURATION.labels(verb=method).time():
            response = self.api.call_api(*request)
            data = response.read()
        if not 200 <= response.status < 300:
            raise ApiException(
                status=response.status,
                reason=response.reason,
                body=data.decode(errors="replace") if data else None,
            )
        return json.loads(data) if data else None

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self._call("GET", object_path(api_version, kind, namespace, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def read(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """The object; a 404 raises, so the caller can tell a missing object from a missing
        kind (the API server's Status names the object only in the first case)."""
        result: dict[str, Any] = self._call("GET", object_path(api_version, kind, namespace, name))
        return result

    def json_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        operations: Sequence[Mapping[str, Any]],
    ) -> dict[str, Any]:
        """A JSON Patch (RFC 6902) as field manager modelship: it changes only the paths it
        names, and its `test` operations refuse it when the object moved since it was read."""
        result: dict[str, Any] = self._call(
            "PATCH",
            object_path(api_version, kind, namespace, name),
            body=[dict(operation) for operation in operations],
            query=[("fieldManager", FIELD_MANAGER)],
            content_type="application/json-patch+json",
        )
        return result

    def list(
        self, api_version: str, kind: str, namespace: str, selector: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        result = self._call(
            "GET",
            object_path(api_version, kind, namespace),
            query=[("labelSelector", label_selector)],
        )
        return list(result.get("items", []))

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply: running it again with the same object changes nothing."""
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        return self._call(
            "PATCH",
            path,
            body=dict(obj),  # sent as JSON, which is valid YAML for apply
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            content_type="application/apply-patch+yaml",
        )

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """POST: fails with 409 when the object exists (someone else made it first)."""
        meta = obj["metadata"]
        return self._call(
            "POST", object_path(obj["apiVersion"], obj["kind"], meta["namespace"]), body=dict(obj)
        )

    def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """PUT with the object's resourceVersion: fails with 409 when it changed meanwhile."""
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        return self._call("PUT", path, body=dict(obj))

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        try:
            self._call(
                "DELETE",
                object_path(api_version, kind, namespace, name),
                body={"propagationPolicy": "Background"},
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def patch_annotations(
        self, api_version: str, kind: str, namespace: str, name: str, values: Mapping[str, str]
    ) -> dict[str, Any]:
        """Sets annotations with a merge patch (the rest of the object untouched), as
        `kubectl annotate --overwrite` does; used by `modelship rollout promote|abort`."""
        return self._call(
            "PATCH",
            object_path(api_version, kind, namespace, name),
            body={"metadata": {"annotations": dict(values)}},
            content_type="application/merge-patch+json",
        )

    def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        """Replaces status fields with a merge patch on the status subresource (never spec);
        returns the ModelDeployment as it is now."""
        path = object_path(f"{GROUP}/{VERSION}", "ModelDeployment", namespace, name) + "/status"
        return self._call(
            "PATCH",
            path,
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
        )
