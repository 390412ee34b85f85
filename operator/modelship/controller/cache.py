"""What the operator knows of the cluster without asking it: kopf indexes fed by the watches
(ModelDeployments, and the Deployments, Services, Pods, Jobs we own, and Secrets), plus the
objects our own writes returned, until the watch catches up with them.

A steady ModelDeployment is then reconciled from memory: no GET or LIST per poll. The index
functions are pure (a body in, `{key: value}` out); kopf keeps their results per object and
drops them when the object is deleted, and it runs no other handler until every index has
its initial listing, so a reconcile never sees a half-filled cache. They are `async` only so
that kopf runs them on its loop: a plain function it runs in a thread, and that hop (for every
watch event of every kind) cost more than the function itself.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from modelship.api import GROUP, PLURAL, VERSION
from modelship.reconcile.owner import APP, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY

MANAGED = {LABEL_MANAGED_BY: APP}
"""Only objects we made are watched (a label selector on the watch itself)."""
OWNED_KINDS = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("", "v1", "pods"),
    ("batch", "v1", "jobs"),
)
"""The kinds watched through `MANAGED` (group, version, plural)."""

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


SHARED_STRING_LENGTH = 64
"""Strings up to this length are shared between cached objects (see `_compact`)."""


def _compact(value: Any) -> Any:
    """A deep copy of decoded JSON whose keys and short strings are shared with every other
    cached object. Each watch event is decoded on its own, so without this every cached
    object held its own "metadata", "labels", "True", "Ready", image and label values:
    almost half of what the cache held at 1,000 ModelDeployments was such repeated strings.
    (Interned strings are freed when no object holds them any more.)"""
    if isinstance(value, dict):
        return {sys.intern(key): _compact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_compact(item) for item in value]
    if isinstance(value, str) and len(value) <= SHARED_STRING_LENGTH:
        return sys.intern(value)
    return value  # a number, a bool, None or a long string: immutable, so safe to share


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy that no later watch event can change under a reconcile that reads it, without
    metadata.managedFields: no decision reads them, and with server-side apply they are often
    the largest part of an object (the cache holds thousands of objects at scale)."""
    kept = {key: value for key, value in body.items() if key != "metadata"}
    meta = body.get("metadata") or {}
    kept["metadata"] = {key: value for key, value in meta.items() if key != "managedFields"}
    compact: dict[str, Any] = _compact(kept)
    return compact


def _slim_pod(body: Mapping[str, Any]) -> dict[str, Any]:
    """A pod as the decisions read it: its metadata and status, and of its spec only where it
    runs and each container's name and resources (an OOM kill is told against the limit).
    The rest of a serving pod's spec (env, probes, mounts, security context, the defaults the
    API server fills in) is most of the object, and the cache holds one per replica."""
    kept = _plain({key: value for key, value in body.items() if key != "spec"})
    spec = body.get("spec") or {}
    slim: dict[str, Any] = {}
    for field_name in ("containers", "initContainers"):
        if field_name in spec:
            slim[field_name] = [
                {"name": c.get("name"), "resources": _compact(c.get("resources") or {})}
                for c in spec.get(field_name) or []
            ]
    if "nodeName" in spec:
        slim["nodeName"] = spec["nodeName"]
    kept["spec"] = slim
    return kept


def _slim_deployment(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Deployment without its pod template's spec: the decisions read its replicas, deadline,
    selector and strategy, and which version its template runs (the template's labels and
    annotations); whether the template is as wanted is told by the applied-hash annotation."""
    kept = _plain({key: value for key, value in body.items() if key != "spec"})
    spec = dict(body.get("spec") or {})
    template = spec.get("template") or {}
    spec["template"] = {"metadata": template.get("metadata") or {}}
    kept["spec"] = _compact(spec)
    return kept


def _named(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body["metadata"]
    return (meta.get("namespace") or "", meta["name"])


@kopf.index(GROUP, VERSION, PLURAL)
async def model_deployments(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {_named(body): _plain(body)}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
async def deployments(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {_named(body): _slim_deployment(body)}


@kopf.index("", "v1", "services", labels=MANAGED)
async def services(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {_named(body): _plain(body)}


@kopf.index("", "v1", "pods", labels=MANAGED)
async def pods(body: kopf.Body, **_: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    """By (namespace, ModelDeployment, component): the pods one reconcile reads together."""
    labels = body["metadata"].get("labels") or {}
    namespace = body["metadata"].get("namespace") or ""
    return {
        (namespace, labels.get(LABEL_INSTANCE, ""), labels.get(LABEL_COMPONENT, "")): _slim_pod(
            body
        )
    }


@kopf.index("batch", "v1", "jobs", labels=MANAGED)
async def jobs(body: kopf.Body, **_: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    labels = body["metadata"].get("labels") or {}
    namespace = body["metadata"].get("namespace") or ""
    return {
        (namespace, labels.get(LABEL_INSTANCE, ""), labels.get(LABEL_COMPONENT, "")): _plain(body)
    }


@kopf.index("", "v1", "secrets")
async def secrets(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
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
    _written: dict[str, dict[tuple[str, str], tuple[str | None, dict[str, Any]]]] = field(
        default_factory=dict
    )
    """By kind, then (namespace, name): a listing of one kind looks only at its own writes."""

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
        of_kind = self._written.get(kind) or {}
        written = of_kind.get((namespace, name))
        if written is None:
            return cached
        before, after = written
        if cached is None:
            if before is None:
                return after  # we created it; the watch has not delivered it yet
            del of_kind[(namespace, name)]  # deleted since our write: the watch is the truth
            return None
        if _version(cached) == before:
            return after  # the watch still shows the object our write started from
        del of_kind[(namespace, name)]  # the watch has caught up with (or moved past) our write
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
        for (written_namespace, name), (_, after) in list((self._written.get(kind) or {}).items()):
            labels = after["metadata"].get("labels") or {}
            if (
                written_namespace == namespace
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
        slim = _slim_deployment if after["kind"] == "Deployment" else _plain
        of_kind = self._written.setdefault(after["kind"], {})
        of_kind[(meta.get("namespace") or "", meta["name"])] = (_version(before), slim(after))

    def deleted(self, kind: str, namespace: str, name: str) -> None:
        """We deleted it: what our writes returned for it no longer stands (the watch will
        drop the object itself)."""
        (self._written.get(kind) or {}).pop((namespace, name), None)

    def forget(self, namespace: str, instance: str) -> None:
        """Drop what our writes returned for a ModelDeployment that is gone, and its objects."""
        for of_kind in self._written.values():
            for key, (_, after) in list(of_kind.items()):
                labels = after["metadata"].get("labels") or {}
                if key[0] == namespace and (instance in (key[1], labels.get(LABEL_INSTANCE))):
                    del of_kind[key]


def _version(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    return (obj.get("metadata") or {}).get("resourceVersion")
