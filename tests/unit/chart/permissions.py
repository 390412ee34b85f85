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


# Inside every namespace the operator watches. Each line is a call site; reads come from the
# watches (controller/cache.py), so nothing is read with get:
IN_WATCHED_NAMESPACE: tuple[Permission, ...] = (
    # kopf's watch; patch: kopf removes the finalizer older versions added.
    *_each("modelship.io", "modeldeployments", "list watch patch"),
    # Kube.patch_status.
    *_each("modelship.io", "modeldeployments", "patch", subresource="status"),
    # kopf's watch of owned objects, Kube.apply (server-side apply may create).
    *_each("apps", "deployments", "list watch create patch"),
    # kopf's watch, Kube.apply, Kube.delete of a finished multi-worker run's headless Service.
    *_each("", "services", "list watch create patch delete"),
    # kopf's watch, Kube.apply, Kube.delete of finished Jobs beyond the last few.
    *_each("batch", "jobs", "list watch create patch delete"),
    # kopf's watch.
    *_each("", "pods", "list watch"),
    # kopf's watch: the Secret named by spec.storage.secretRef (users name it; no label).
    *_each("", "secrets", "list watch"),
    # Kube.create of the controller's Events, and kopf's own.
    *_each("", "events", "create"),
    # Kube.read and Kube.json_patch of the user's HTTPRoute (spec.rollout.traffic GatewayAPI),
    # only while a rollout needs its weights: no watch, no cache.
    *_each("gateway.networking.k8s.io", "httproutes", "get patch"),
)


def leader_election_permissions(name: str = "modelship") -> tuple[Permission, ...]:
    """The Lease in the release namespace (controller/leader.py): create it, read and renew
    only ours."""
    return (
        Permission("coordination.k8s.io", "leases", "create"),
        Permission("coordination.k8s.io", "leases", "get", name=name),
        Permission("coordination.k8s.io", "leases", "update", name=name),
    )


# Things the operator never does, so it must not be able to.
NEVER: tuple[Permission, ...] = (
    *_each("", "secrets", "create update patch delete"),
    *_each("", "pods", "create update patch delete deletecollection"),
    Permission("", "pods", "create", subresource="exec"),
    *_each("modelship.io", "modeldeployments", "create update delete deletecollection"),
    *_each("apps", "deployments", "update delete deletecollection"),
    *_each("", "services", "update"),
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
    *_each("coordination.k8s.io", "leases", "list watch patch delete"),
    *_each("kopf.dev", "kopfpeerings", "list watch patch"),
    # The user owns the HTTPRoute: the operator only sets weights on it.
    *_each("gateway.networking.k8s.io", "httproutes", "create update delete list watch"),
    *_each("gateway.networking.k8s.io", "gateways", "get create patch delete"),
)
