"""What the operator does on the Kubernetes API (controller/kube.py and kopf), as the exact
set of permissions its chart must grant: checked against the rendered Roles by the unit tests
and against the real authorizer by tests/integration/test_rbac.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    """A verb on a resource (group "" = core), optionally on a subresource or one name."""

    group: str
    resource: str
    verb: str
    subresource: str = ""
    name: str = ""

    @property
    def rbac_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def can_i_args(self) -> list[str]:
        """The arguments of `kubectl auth can-i` asking for this permission."""
        qualified = f"{self.resource}.{self.group}" if self.group else self.resource
        target = f"{qualified}/{self.name}" if self.name else qualified
        args = [self.verb, target]
        if self.subresource:
            args.append(f"--subresource={self.subresource}")
        return args


def _each(group: str, resource: str, verbs: str, subresource: str = "") -> list[Permission]:
    return [Permission(group, resource, verb, subresource) for verb in verbs.split()]


# Inside every namespace the operator watches. Each line is a call site:
IN_WATCHED_NAMESPACE: tuple[Permission, ...] = (
    # Kube.get of the resource, kopf's watch, kopf's finalizer and modelship.io/ annotations.
    *_each("modelship.io", "modeldeployments", "get list watch patch"),
    # Kube.patch_status.
    *_each("modelship.io", "modeldeployments", "patch", subresource="status"),
    # Kube.get, kopf's watch of owned objects, Kube.apply (server-side apply may create).
    *_each("apps", "deployments", "get list watch create patch"),
    # Kube.get, Kube.apply, Kube.delete of a finished multi-worker run's headless Service.
    *_each("", "services", "get create patch delete"),
    # Kube.list, kopf's watch, Kube.apply, Kube.delete of finished Jobs beyond the last few.
    *_each("batch", "jobs", "list watch create patch delete"),
    # Kube.list and kopf's watch.
    *_each("", "pods", "list watch"),
    # Kube.get of spec.storage.secretRef.
    *_each("", "secrets", "get"),
    # kopf.event / kopf's own Events.
    *_each("", "events", "create"),
)


def peering_permissions(clusterwide: bool, name: str = "modelship") -> tuple[Permission, ...]:
    """kopf peering (replicas > 1): watch the peering objects, patch only ours."""
    resource = "clusterkopfpeerings" if clusterwide else "kopfpeerings"
    return (
        *_each("kopf.dev", resource, "list watch"),
        Permission("kopf.dev", resource, "patch", name=name),
    )


# Things the operator never does, so it must not be able to.
NEVER: tuple[Permission, ...] = (
    *_each("", "secrets", "list watch create update patch delete"),
    *_each("", "pods", "create update patch delete deletecollection"),
    Permission("", "pods", "create", subresource="exec"),
    *_each("modelship.io", "modeldeployments", "create update delete deletecollection"),
    *_each("apps", "deployments", "update delete deletecollection"),
    *_each("", "services", "list watch update"),
    *_each("batch", "jobs", "update deletecollection"),
    *_each("modelship.io", "modeldeployments", "update", subresource="status"),
    *_each("", "events", "update delete"),
    *_each("", "configmaps", "get list create"),
    *_each("", "serviceaccounts", "create"),
    Permission("", "serviceaccounts", "create", subresource="token"),
    *_each("", "nodes", "get list watch patch delete"),
    # kopf's namespace and CRD scanning is off (controller/main.py): the operator is told
    # its namespaces and knows its one CRD.
    *_each("", "namespaces", "get list watch create delete"),
    *_each("apiextensions.k8s.io", "customresourcedefinitions", "list watch"),
    *_each("rbac.authorization.k8s.io", "rolebindings", "create"),
    *_each("rbac.authorization.k8s.io", "clusterroles", "bind escalate"),
    *_each("apiextensions.k8s.io", "customresourcedefinitions", "create update delete"),
    *_each("", "users", "impersonate"),
)
