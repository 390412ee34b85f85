"""What the operator knows of the cluster without asking it: kopf indexes fed by the watches
(ModelDeployments, and the Deployments, Services, Pods, Jobs we own, and Secrets), plus the
objects our own writes returned, until the watch catches up with them.

A steady ModelDeployment is then reconciled from memory: no GET or LIST per poll. The index
functions are pure (a body in, `{key: value}` out); kopf keeps their results per object and
drops them when the object is deleted, and it runs no other handler until every index has
its initial listing, so a reconcile never sees a half-filled cache.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from modelship.api import GROUP, PLURAL, VERSION
from modelship.reconcile.owner import APP, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY

MANAGED = {LABEL_MANAGED_BY: APP}
"""Only objects we made are watched (a label selector on the watch itself)."""

ObjectKey = tuple[str, str, str]
"""(kind, namespace, name)."""

# Secrets that are never S3 credentials and can be large: not kept in memory.
_SKIPPED_SECRET_TYPES = frozenset(
    {
        "helm.sh/release.v1",
        "kubernetes.io/service-account-token",
        "kubernetes.io/dockercfg",
        "kubernetes.io/dockerconfigjson",
        "kubernetes.io/tls",
        "bootstrap.kubernetes.io/token",
    }
)


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy that no later watch event can change under a reconcile that reads it, without
    metadata.managedFields: no decision reads them, and with server-side apply they are often
    the largest part of an object (the cache holds thousands of objects at scale)."""
    kept = {key: value for key, value in body.items() if key != "metadata"}
    meta = body.get("metadata") or {}
    kept["metadata"] = {key: value for key, value in meta.items() if key != "managedFields"}
    return copy.deepcopy(kept)


def _named(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body["metadata"]
    return (meta.get("namespace") or "", meta["name"])


@kopf.index(GROUP, VERSION, PLURAL)
def model_deployments(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {_named(body): _plain(body)}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
def deployments(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {_named(body): _plain(body)}


@kopf.index("", "v1", "services", labels=MANAGED)
def services(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {_named(body): _plain(body)}


@kopf.index("", "v1", "pods", labels=MANAGED)
def pods(body: kopf.Body, **_: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    """By (namespace, ModelDeployment, component): the pods one reconcile reads together."""
    labels = body["metadata"].get("labels") or {}
    namespace = body["metadata"].get("namespace") or ""
    return {
        (namespace, labels.get(LABEL_INSTANCE, ""), labels.get(LABEL_COMPONENT, "")): _plain(body)
    }


@kopf.index("batch", "v1", "jobs", labels=MANAGED)
def jobs(body: kopf.Body, **_: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    labels = body["metadata"].get("labels") or {}
    namespace = body["metadata"].get("namespace") or ""
    return {
        (namespace, labels.get(LABEL_INSTANCE, ""), labels.get(LABEL_COMPONENT, "")): _plain(body)
    }


@kopf.index("", "v1", "secrets")
def secrets(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Secrets cannot be label-selected (the user names them), so every Secret of the watched
    namespaces is watched; only the kinds that can hold S3 keys are kept, and only their data."""
    if body.get("type") in _SKIPPED_SECRET_TYPES:
        return {}
    meta = body["metadata"]
    kept = {
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "data": dict(body.get("data") or {}),
    }
    return {_named(body): kept}


INDEXES = ("model_deployments", "deployments", "services", "pods", "jobs", "secrets")
"""The kwargs names under which kopf hands these indexes to every handler."""


@dataclass
class ObjectCache:
    """Reads of the cluster from the watch-fed indexes. After a write, the object the API
    server returned is used until the watch delivers an object newer than the one the write
    started from, so a reconcile right after a write does not act on the older copy."""

    indexes: dict[str, Any] = field(default_factory=dict)
    _written: dict[ObjectKey, tuple[str | None, dict[str, Any]]] = field(default_factory=dict)

    def attach(self, kwargs: Mapping[str, Any]) -> None:
        """Keep kopf's (live) index objects from a handler's kwargs (kopf hands the same
        objects to every handler, the startup one included, and fills them in place)."""
        for name in INDEXES:
            if name in kwargs:
                self.indexes[name] = kwargs[name]

    def _one(self, index: str, key: tuple[str, ...]) -> dict[str, Any] | None:
        store = self.indexes[index].get(key)
        for value in store or ():
            return value
        return None

    def _newest(
        self, kind: str, namespace: str, name: str, cached: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        key = (kind, namespace, name)
        written = self._written.get(key)
        if written is None:
            return cached
        before, after = written
        if cached is None:
            if before is None:
                return after  # we created it; the watch has not delivered it yet
            del self._written[key]  # deleted since our write: the watch is the truth
            return None
        if _version(cached) == before:
            return after  # the watch still shows the object our write started from
        del self._written[key]  # the watch has caught up with (or moved past) our write
        return cached

    def model_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        cached = self._one("model_deployments", (namespace, name))
        return self._newest("ModelDeployment", namespace, name, cached)

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        cached = self._one("deployments", (namespace, name))
        return self._newest("Deployment", namespace, name, cached)

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        cached = self._one("services", (namespace, name))
        return self._newest("Service", namespace, name, cached)

    def pods(self, namespace: str, instance: str, component: str) -> list[dict[str, Any]]:
        return self._many("Pod", "pods", namespace, instance, component)

    def jobs(self, namespace: str, instance: str, component: str) -> list[dict[str, Any]]:
        """The Jobs, with one we just created even before the watch delivers it (a second
        pass must not start the same training run again)."""
        return self._many("Job", "jobs", namespace, instance, component)

    def _many(
        self, kind: str, index: str, namespace: str, instance: str, component: str
    ) -> list[dict[str, Any]]:
        cached = list(self.indexes[index].get((namespace, instance, component)) or ())
        names = {obj["metadata"]["name"] for obj in cached}
        found = [
            self._newest(kind, namespace, obj["metadata"]["name"], obj) or obj for obj in cached
        ]
        for (written_kind, written_namespace, name), (_, after) in list(self._written.items()):
            labels = after["metadata"].get("labels") or {}
            if (
                (written_kind, written_namespace) == (kind, namespace)
                and name not in names
                and labels.get(LABEL_INSTANCE) == instance
                and labels.get(LABEL_COMPONENT) == component
                and (obj := self._newest(kind, namespace, name, None)) is not None
            ):
                found.append(obj)
        return found

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._one("secrets", (namespace, name))

    def wrote(self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> None:
        """Remember what a write returned (`before`: the object it was computed from)."""
        if not after:
            return
        meta = after["metadata"]
        key = (after["kind"], meta.get("namespace") or "", meta["name"])
        self._written[key] = (_version(before), _plain(after))

    def forget(self, namespace: str, instance: str) -> None:
        """Drop what our writes returned for a ModelDeployment that is gone, and its objects."""
        for key, (_, after) in list(self._written.items()):
            labels = after["metadata"].get("labels") or {}
            if key[1] == namespace and (instance in (key[2], labels.get(LABEL_INSTANCE))):
                del self._written[key]


def _version(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    return (obj.get("metadata") or {}).get("resourceVersion")
