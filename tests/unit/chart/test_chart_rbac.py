"""The rendered RBAC grants the operator exactly what it uses, in the scope it uses it:
cluster-wide by default, only inside the watched namespaces in namespaced mode, plus its one
leader-election Lease in the release namespace."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.unit.chart.helm import RELEASE_NAMESPACE, Grant, find, grants_to, render
from tests.unit.chart.permissions import (
    IN_WATCHED_NAMESPACE,
    NEVER,
    Permission,
    leader_election_permissions,
)

SERVICE_ACCOUNT = "ms-modelship"


def expected(scope: str, permissions: Iterable[Permission]) -> set[Grant]:
    return {Grant(scope, p.group, p.rbac_resource, p.verb, p.name) for p in permissions}


def granted(values: dict[str, Any]) -> set[Grant]:
    return grants_to(render(values), SERVICE_ACCOUNT, RELEASE_NAMESPACE)


def lease(name: str = "modelship") -> set[Grant]:
    return expected(RELEASE_NAMESPACE, leader_election_permissions(name))


def test_cluster_wide_mode_grants_exactly_what_the_operator_uses() -> None:
    assert granted({}) == expected("*", IN_WATCHED_NAMESPACE) | lease()


def test_namespaced_mode_grants_only_inside_the_watched_namespaces() -> None:
    values = {"rbac": {"namespaced": True}, "watchNamespaces": ["team-a", "team-b"]}
    objects = render(values)
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")
    assert granted(values) == (
        expected("team-a", IN_WATCHED_NAMESPACE)
        | expected("team-b", IN_WATCHED_NAMESPACE)
        | lease()
    )


def test_the_lease_grant_follows_its_name_and_not_the_replica_count() -> None:
    for replicas in (1, 3):
        values = {"replicas": replicas, "leaderElection": {"leaseName": "ours"}}
        assert granted(values) == expected("*", IN_WATCHED_NAMESPACE) | lease("ours")


def test_nothing_the_operator_never_does_is_granted() -> None:
    for values in (
        {},
        {"replicas": 2},
        {"rbac": {"namespaced": True}, "watchNamespaces": ["team-a"]},
    ):
        grants = granted(values)
        for permission in NEVER:
            assert not any(
                g.group == permission.group
                and g.resource in (permission.rbac_resource, "*")
                and g.verb in (permission.verb, "*")
                for g in grants
            ), permission
        assert not any("*" in (g.group, g.resource, g.verb) for g in grants)


def test_aggregated_user_roles_never_reach_the_operator() -> None:
    objects = render({})
    edit = find(objects, "ClusterRole", "ms-modelship-edit")
    view = find(objects, "ClusterRole", "ms-modelship-view")
    assert edit and view
    assert edit[0]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert view[0]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    bound = {b["roleRef"]["name"] for b in find(objects, "ClusterRoleBinding")}
    assert bound == {"ms-modelship"}
    namespaced = render({"rbac": {"namespaced": True}, "watchNamespaces": ["a"]})
    assert not find(namespaced, "ClusterRole")


def test_rbac_can_be_left_to_the_platform() -> None:
    objects = render({"rbac": {"create": False}})
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert not find(objects, kind)
