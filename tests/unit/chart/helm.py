"""Renders the Helm chart with the test bed's helm binary, and reads what the rendered
(Cluster)Roles grant the operator's ServiceAccount; shared by the chart's unit and
integration tests."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.dev.binaries import binary

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "modelship"
RELEASE = "ms"
RELEASE_NAMESPACE = "modelship-system"


def helm() -> Path:
    """The helm binary the test bed builds; the test is skipped where it is not built yet."""
    path = binary("helm")
    if not path.exists():
        pytest.skip(f"helm is not built yet ({path}); run `modelship dev build`")
    return path


def run_helm(
    *args: str,
    values: Mapping[str, Any] | None = None,
    kubeconfig: Path | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`helm ARGS -f <values>` (against the cluster in `kubeconfig`, if given), with helm's
    cache and config in a throwaway folder; fails the test with helm's own message unless
    check=False."""
    with tempfile.TemporaryDirectory() as home:
        options = ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
        if values is not None:
            values_file = Path(home) / "values.yaml"
            values_file.write_text(yaml.safe_dump(dict(values)))
            options += ["-f", str(values_file)]
        result = subprocess.run(
            [str(helm()), *args, *options],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={
                **os.environ,
                "HELM_CACHE_HOME": f"{home}/cache",
                "HELM_CONFIG_HOME": f"{home}/config",
                "HELM_DATA_HOME": f"{home}/data",
            },
        )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def render(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = RELEASE_NAMESPACE,
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """The chart's manifests as `helm template` renders them with `values`."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    if include_crds:
        args.append("--include-crds")
    output = run_helm(*args, values=values or {}).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def render_error(values: Mapping[str, Any]) -> str:
    """helm's error when it refuses to render `values`."""
    result = run_helm("template", RELEASE, str(CHART), values=values, check=False)
    assert result.returncode != 0, "helm rendered values it should have refused"
    return result.stderr


def find(
    objects: Iterable[dict[str, Any]],
    kind: str,
    name: str | None = None,
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] == kind
        and (name is None or o["metadata"]["name"] == name)
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]


def only(objects: Iterable[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def operator_container(objects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    deployment = only(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_values(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@dataclass(frozen=True, order=True)
class Grant:
    """One verb on one resource, where it applies ("*" = every namespace and cluster-scoped
    objects) and, if restricted, on which object name."""

    scope: str
    group: str
    resource: str
    verb: str
    name: str = ""


def grants_to(objects: list[dict[str, Any]], service_account: str, namespace: str) -> set[Grant]:
    """Everything the rendered (Cluster)Roles bound to that ServiceAccount allow."""
    roles = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in ("Role", "ClusterRole")
    }
    granted: set[Grant] = set()
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(
            s["kind"] == "ServiceAccount"
            and s["name"] == service_account
            and s["namespace"] == namespace
            for s in binding["subjects"]
        ):
            continue
        scope = binding["metadata"].get("namespace", "*")
        ref = binding["roleRef"]
        role_namespace = scope if ref["kind"] == "Role" else None
        role = roles[(ref["kind"], role_namespace, ref["name"])]
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames", [""]):
                            granted.add(Grant(scope, group, resource, verb, name))
    return granted
