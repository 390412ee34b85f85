"""The chart renders what a platform team expects: the CRDs kept in step with crds/, an
operator Deployment that runs `modelship run` as configured by the values, the restricted
Pod Security profile, optional monitoring and network policy, and clear errors for values
that cannot work."""

from __future__ import annotations

import filecmp
import os
import subprocess
from typing import Any

import pytest
import yaml

from modelship.cli.run import run
from tests.unit.chart.helm import (
    CHART,
    REPO,
    env_values,
    find,
    helm,
    only,
    operator_container,
    render,
    render_error,
)


def test_chart_crds_are_the_generated_crds() -> None:
    generated = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert generated == ["modeldeployments.modelship.io.yaml"], generated
    for name in generated:
        shipped = CHART / "files" / "crds" / name
        assert shipped.exists(), f"charts/modelship/files/crds/{name} is missing; run `make crds`"
        assert filecmp.cmp(REPO / "crds" / name, shipped, shallow=False), (
            f"charts/modelship/files/crds/{name} differs from crds/{name}; run `make crds`"
        )
    # Not in crds/, which Helm installs once and never upgrades.
    assert not (CHART / "crds" / "modeldeployments.modelship.io.yaml").exists()


def test_the_crd_is_a_template_helm_upgrades_and_keeps() -> None:
    (crd,) = [doc for doc in render() if doc["kind"] == "CustomResourceDefinition"]
    generated = yaml.safe_load((REPO / "crds" / "modeldeployments.modelship.io.yaml").read_text())
    assert crd["spec"] == generated["spec"]
    assert crd["metadata"]["name"] == generated["metadata"]["name"]
    # Uninstalling the release must not delete every ModelDeployment with the CRD.
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    (unkept,) = [
        doc
        for doc in render({"crds": {"keep": False}})
        if doc["kind"] == "CustomResourceDefinition"
    ]
    assert "helm.sh/resource-policy" not in (unkept["metadata"].get("annotations") or {})
    # Left to the user (kubectl apply -f crds/, a GitOps tool): not rendered at all.
    assert not [
        doc
        for doc in render({"crds": {"enabled": False}})
        if doc["kind"] == "CustomResourceDefinition"
    ]


def test_kopf_peering_crds_have_kopfs_names_and_scopes() -> None:
    crds = {
        doc["metadata"]["name"]: doc
        for doc in yaml.safe_load_all((CHART / "crds" / "kopf-peerings.yaml").read_text())
    }
    assert set(crds) == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
    cluster, namespaced = crds["clusterkopfpeerings.kopf.dev"], crds["kopfpeerings.kopf.dev"]
    assert (cluster["spec"]["scope"], cluster["spec"]["names"]["kind"]) == (
        "Cluster",
        "ClusterKopfPeering",
    )
    assert (namespaced["spec"]["scope"], namespaced["spec"]["names"]["kind"]) == (
        "Namespaced",
        "KopfPeering",
    )
    for crd in crds.values():
        (version,) = crd["spec"]["versions"]
        assert version["name"] == "v1" and version["served"] and version["storage"]
        # kopf merge-patches the status through the main resource: no status subresource.
        assert "subresources" not in version
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True


def test_helm_lint_is_clean_with_every_option_on() -> None:
    for extra in (
        [],
        [
            "--set",
            "replicas=3",
            "--set",
            "rbac.namespaced=true",
            "--set",
            "watchNamespaces={a,b}",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "networkPolicy.enabled=true",
        ],
    ):
        result = subprocess.run(
            [str(helm()), "lint", "--strict", str(CHART), *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


def test_default_install_runs_two_replicas_that_elect_a_leader_watching_every_namespace() -> None:
    objects = render()
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    # Only the Lease holder acts, so an upgrade may overlap old and new replicas.
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    container = operator_container(objects)
    assert container["command"] == ["modelship", "run"]
    assert "--leader-election" in container["args"]
    assert "--lease-name=modelship" in container["args"]
    env = env_values(container)
    assert "MODELSHIP_NAMESPACES" not in env
    assert env["MODELSHIP_SERVER_IMAGE"] == "ghcr.io/modelship/server:0.1.0"
    assert env["MODELSHIP_TRAINER_IMAGE"] == "ghcr.io/modelship/trainer:0.1.0"
    assert env["MODELSHIP_LOG_FORMAT"] == "json"
    assert container["image"] == "ghcr.io/modelship/operator:0.1.0"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert not find(objects, "ClusterKopfPeering") and not find(objects, "KopfPeering")
    assert not find(objects, "ServiceMonitor") and not find(objects, "NetworkPolicy")
    budget = only(objects, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert (
        budget["spec"]["selector"]["matchLabels"] == (deployment["spec"]["selector"]["matchLabels"])
    )


def test_values_reach_the_operator_settings() -> None:
    container = operator_container(
        render(
            {
                "watchNamespaces": ["team-a", "team-b"],
                "defaultImages": {
                    "server": "registry.example/server:9",
                    "trainer": "registry.example/t:9",
                },
                "logFormat": "text",
                "image": {"repository": "registry.example/operator", "tag": "1.2.3"},
                "env": [{"name": "AWS_REGION", "value": "eu-west-1"}],
            }
        )
    )
    env = env_values(container)
    assert env["MODELSHIP_NAMESPACES"] == "team-a,team-b"
    assert env["MODELSHIP_SERVER_IMAGE"] == "registry.example/server:9"
    assert env["MODELSHIP_TRAINER_IMAGE"] == "registry.example/t:9"
    assert env["MODELSHIP_LOG_FORMAT"] == "text"
    assert env["AWS_REGION"] == "eu-west-1"
    assert container["image"] == "registry.example/operator:1.2.3"


def test_image_digest_wins_over_the_tag() -> None:
    digest = "sha256:" + "ab" * 32
    container = operator_container(
        render({"image": {"repository": "r.example/op", "tag": "1", "digest": digest}})
    )
    assert container["image"] == f"r.example/op@{digest}"


def _parsed_by_modelship_run(
    container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """What `modelship run` makes of the container's arguments and environment."""
    for name in [n for n in os.environ if n.startswith("MODELSHIP_")]:
        monkeypatch.delenv(name)
    for name, value in env_values(container).items():
        monkeypatch.setenv(name, value)
    assert container["command"] == ["modelship", "run"]
    context = run.make_context("run", list(container["args"]))
    return dict(context.params)


def test_modelship_run_accepts_the_deployments_arguments_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = operator_container(
        render({"replicas": 2, "watchNamespaces": ["a", "b"], "logFormat": "text"})
    )
    params = _parsed_by_modelship_run(container, monkeypatch)
    assert params["namespaces"] == ("a,b",)
    assert params["metrics_port"] == 8080 and params["health_port"] == 8081
    assert params["leader_election"] is True and params["lease_name"] == "modelship"
    assert (params["max_concurrent_reconciles"], params["listings_per_endpoint"]) == (16, 4)
    assert params["log_format"] == "text"
    assert params["server_image"] == "ghcr.io/modelship/server:0.1.0"


def test_ports_and_probe_follow_the_values(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render({"metrics": {"port": 9090}, "health": {"port": 9091}})
    container = operator_container(objects)
    params = _parsed_by_modelship_run(container, monkeypatch)
    assert (params["metrics_port"], params["health_port"]) == (9090, 9091)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9090, "health": 9091}
    probe = container["livenessProbe"]["httpGet"]
    assert (probe["path"], probe["port"]) == ("/healthz", "health")
    ready = container["readinessProbe"]["httpGet"]
    assert (ready["path"], ready["port"]) == ("/readyz", "health")
    service = only(objects, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_operator_pod_meets_the_restricted_profile() -> None:
    deployment = only(render(), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["readOnlyRootFilesystem"] is True
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume


def test_replicas_meet_on_a_lease_named_by_the_values_in_the_release_namespace() -> None:
    objects = render({"replicas": 3, "leaderElection": {"leaseName": "ours"}})
    assert "--lease-name=ours" in operator_container(objects)["args"]
    env = {e["name"]: e for e in operator_container(objects)["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert not find(objects, "ClusterKopfPeering") and not find(objects, "KopfPeering")


def test_one_replica_has_no_disruption_budget_that_would_block_a_drain() -> None:
    assert not find(render({"replicas": 1}), "PodDisruptionBudget")
    assert not find(render({"podDisruptionBudget": {"enabled": False}}), "PodDisruptionBudget")


def test_service_monitor_scrapes_the_metrics_service() -> None:
    objects = render(
        {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}
    )
    monitor = only(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = only(objects, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")


def test_network_policy_admits_only_metrics_scrapes() -> None:
    scraper = {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    objects = render({"networkPolicy": {"enabled": True, "metricsFrom": [scraper]}})
    policy = only(objects, "NetworkPolicy")
    pod_labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert rule["from"] == [scraper]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"rbac": {"namespaced": True}}, ["rbac.namespaced=true needs watchNamespaces"]),
        ({"replicas": "two"}, ["/replicas", "integer"]),
        ({"rbac": {"namespace": True}}, ["/rbac", "'namespace' not allowed"]),
        ({"logFormat": "yaml"}, ["/logFormat"]),
        ({"watchNamespaces": ["Team_A"]}, ["/watchNamespaces/0"]),
        (
            {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
            ["needs metrics.service.enabled=true"],
        ),
    ],
)
def test_values_that_cannot_work_are_refused_with_the_value_named(
    values: dict[str, Any], words: list[str]
) -> None:
    error = render_error(values)
    for word in words:
        assert word in error


def test_argocd_snippets_carry_the_shipped_health_check() -> None:
    script = (CHART / "argocd" / "health.lua").read_text()
    key = "resource.customizations.health.modelship.io_ModelDeployment"
    patch = yaml.safe_load((CHART / "argocd" / "argocd-cm.yaml").read_text())
    values = yaml.safe_load((CHART / "argocd" / "argo-cd-values.yaml").read_text())
    assert patch["data"][key] == script
    assert values["configs"]["cm"][key] == script


def test_every_rendered_object_is_labelled_for_the_release() -> None:
    for obj in render(
        {
            "replicas": 2,
            "metrics": {"serviceMonitor": {"enabled": True}},
            "networkPolicy": {"enabled": True},
        }
    ):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "ms", obj["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", obj["kind"]
