"""`helm upgrade` upgrades the CRD the chart templates, and `helm uninstall` keeps it.

The session's cluster already has the real ModelDeployment CRD (other tests use it), so this
runs the chart's own template on a copy of the chart whose CRD is a stand-in of another group:
the same template, the same values, a CRD this test alone owns."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
import yaml

from tests.cluster_fixtures import KubeCluster
from tests.unit.chart.helm import CHART, run_helm

pytestmark = pytest.mark.integration


def stand_in_chart(tmp_path: Path, group: str, description: str) -> Path:
    chart = tmp_path / "chart"
    if not chart.exists():
        shutil.copytree(CHART, chart)
    (source,) = (CHART / "files" / "crds").glob("*.yaml")
    crd = yaml.safe_load(source.read_text())
    crd["spec"]["group"] = group
    crd["metadata"]["name"] = f"{crd['spec']['names']['plural']}.{group}"
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["description"] = description
    (chart / "files" / "crds" / source.name).write_text(yaml.safe_dump(crd))
    return chart


def spec_description(cluster: KubeCluster, name: str) -> str | None:
    crd = cluster.get("crd", name)
    if crd is None:
        return None
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return str(schema["properties"]["spec"]["description"])


def test_helm_upgrade_upgrades_the_crd_and_uninstall_keeps_it(
    cluster: KubeCluster, tmp_path: Path
) -> None:
    suffix = secrets.token_hex(3)
    group = f"t{suffix}.modelship.io"
    name = f"modeldeployments.{group}"
    namespace = f"t-crd-{suffix}"
    cluster.kubectl("create", "namespace", namespace)
    # Only the CRD: no operator is needed to show what Helm does with it.
    values = {"replicas": 0, "podDisruptionBudget": {"enabled": False}}
    try:
        chart = stand_in_chart(tmp_path, group, "first")
        run_helm(
            "install",
            "crd",
            str(chart),
            "-n",
            namespace,
            values=values,
            kubeconfig=cluster.kubeconfig,
        )
        assert spec_description(cluster, name) == "first"

        chart = stand_in_chart(tmp_path, group, "second")
        run_helm(
            "upgrade",
            "crd",
            str(chart),
            "-n",
            namespace,
            values=values,
            kubeconfig=cluster.kubeconfig,
        )
        assert spec_description(cluster, name) == "second"

        run_helm("uninstall", "crd", "-n", namespace, "--wait", kubeconfig=cluster.kubeconfig)
        assert spec_description(cluster, name) == "second", "uninstall deleted the CRD"
    finally:
        cluster.kubectl("delete", "crd", name, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
