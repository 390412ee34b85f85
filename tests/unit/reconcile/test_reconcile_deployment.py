"""The serving Deployment and Service: what the pods run, how they are found and owned."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from modelship.api import parse_spec
from modelship.reconcile.deployment import (
    DEFAULT_SERVING_IMAGE,
    ServingSettings,
    deployed_version,
    serving_deployment,
)
from modelship.reconcile.service import serving_endpoint, serving_grpc_endpoint, serving_service
from modelship.reconcile.storage import storage_settings
from tests.unit.reconcile.builders import NAMESPACE, UID, digest_of, model_deployment, target

SELECTOR = {
    "app.kubernetes.io/name": "modelship",
    "app.kubernetes.io/instance": "digits",
    "app.kubernetes.io/component": "serving",
}


def containers(deployment: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = deployment["spec"]["template"]["spec"]
    (pull,) = pod["initContainers"]
    (server,) = pod["containers"]
    return pull, server


def test_deployment_runs_the_contract_commands() -> None:
    md = model_deployment("digits").batching(64, 5000)
    pull, server = containers(serving_deployment(md.owner(), md.spec(), target(3)))
    assert [*pull["command"], *pull["args"]] == [
        "modelship",
        "pull",
        "s3://models/digits",
        "--version",
        "3",
        "/models/digits/3",
    ]
    assert [*server["command"], *server["args"]] == [
        "modelship",
        "serve",
        "--model-name",
        "digits",
        "--model-base-path",
        "/models/digits",
        "--port",
        "8501",
        "--host",
        "0.0.0.0",
        "--max-batch-size",
        "64",
        "--batch-timeout-micros",
        "5000",
        "--grpc-port",
        "8500",
    ]


@pytest.mark.parametrize(
    ("protocols", "flags", "ports"),
    [
        (("rest", "grpc"), ["--grpc-port", "9000"], {"http": 8501, "grpc": 9000}),
        (("rest",), ["--no-grpc"], {"http": 8501}),
        # Without REST the HTTP port stays: the probes and Prometheus use it.
        (("grpc",), ["--grpc-port", "9000", "--no-rest"], {"http": 8501, "grpc": 9000}),
    ],
)
def test_protocols_choose_the_server_flags_ports_service_and_endpoint(
    protocols: tuple[str, ...], flags: list[str], ports: dict[str, int]
) -> None:
    md = model_deployment().protocols(*protocols, grpc_port=9000)
    _, server = containers(serving_deployment(md.owner(), md.spec(), target(1)))
    assert server["args"][-len(flags) :] == flags
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == ports
    service = serving_service(md.owner(), md.spec())
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        name: (port, name) for name, port in ports.items()
    }
    expected = "digits.ml.svc.cluster.local:9000" if "grpc" in protocols else None
    assert serving_grpc_endpoint(md.owner(), md.spec()) == expected


def test_model_name_differs_from_resource_name() -> None:
    md = model_deployment("digits-prod").model_name("digits")
    dep = serving_deployment(md.owner(), md.spec(), target(1))
    pull, server = containers(dep)
    assert pull["args"][-1] == "/models/digits/1"
    assert server["args"][server["args"].index("--model-name") + 1] == "digits"
    assert dep["metadata"]["name"] == "digits-prod-serving"
    assert dep["spec"]["template"]["metadata"]["labels"]["modelship.io/model"] == "digits"
    assert serving_endpoint(md.owner(), md.spec()) == (
        "http://digits-prod.ml.svc.cluster.local:8501/v1/models/digits"
    )


def test_image_comes_from_spec_or_the_operator_default() -> None:
    md = model_deployment()
    default = serving_deployment(md.owner(), md.spec(), target(1))
    configured = serving_deployment(
        md.owner(), md.spec(), target(1), ServingSettings(default_image="registry.local/s:2")
    )
    chosen = md.image("example.com/server:9")
    own = serving_deployment(chosen.owner(), chosen.spec(), target(1), ServingSettings("x:1"))
    assert {c["image"] for c in containers(default)} == {DEFAULT_SERVING_IMAGE}
    assert {c["image"] for c in containers(configured)} == {"registry.local/s:2"}
    assert {c["image"] for c in containers(own)} == {"example.com/server:9"}


def test_labels_selector_annotation_and_owner() -> None:
    md = model_deployment()
    dep = serving_deployment(md.owner(), md.spec(), target(4))
    assert dep["apiVersion"] == "apps/v1" and dep["kind"] == "Deployment"
    assert dep["metadata"]["namespace"] == NAMESPACE
    assert dep["spec"]["selector"] == {"matchLabels": SELECTOR}  # never the version
    template = dep["spec"]["template"]["metadata"]
    assert template["labels"] == {
        **SELECTOR,
        "app.kubernetes.io/managed-by": "modelship",
        "modelship.io/model": "digits",
        "modelship.io/version": "4",
    }
    assert template["annotations"] == {"modelship.io/digest": digest_of(4)}
    assert dep["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "modelship.io/v1alpha1",
            "kind": "ModelDeployment",
            "name": "digits",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert deployed_version(dep) == target(4)


def test_selector_stays_the_same_across_versions() -> None:
    md = model_deployment()
    v1 = serving_deployment(md.owner(), md.spec(), target(1))
    v2 = serving_deployment(md.owner(), md.spec(), target(2))
    assert v1["spec"]["selector"] == v2["spec"]["selector"]
    assert v1["spec"]["template"] != v2["spec"]["template"]


def test_rollout_keeps_the_old_version_until_the_new_is_ready() -> None:
    md = model_deployment().replicas(3).progress_deadline("5m")
    spec = serving_deployment(md.owner(), md.spec(), target(1))["spec"]
    assert spec["replicas"] == 3
    assert spec["progressDeadlineSeconds"] == 300
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    custom = model_deployment().rollout("50%", 1)
    strategy = serving_deployment(custom.owner(), custom.spec(), target(1))["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": "50%", "maxUnavailable": 1}


def test_probes_ports_volumes_and_termination_messages() -> None:
    md = model_deployment()
    dep = serving_deployment(md.owner(), md.spec(), target(1))
    pull, server = containers(dep)
    assert server["ports"] == [
        {"name": "http", "containerPort": 8501, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8500, "protocol": "TCP"},
    ]
    assert server["readinessProbe"]["httpGet"] == {
        "path": "/v2/health/ready",
        "port": "http",
        "scheme": "HTTP",
    }
    assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert server["livenessProbe"]["httpGet"]["port"] == "http"
    for container in (pull, server):
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
        assert {m["mountPath"] for m in container["volumeMounts"]} == {"/models", "/tmp"}
        assert {"name": "HOME", "value": "/tmp"} in container["env"]
    volumes = dep["spec"]["template"]["spec"]["volumes"]
    assert all(v["emptyDir"] == {} for v in volumes)
    assert {v["name"] for v in volumes} == {m["name"] for m in server["volumeMounts"]}


def test_gpu_fields_only_on_the_server_container() -> None:
    md = (
        model_deployment()
        .gpus(1, product="NVIDIA-H100-80GB-HBM3")
        .resources(requests={"cpu": "2", "memory": "4Gi"}, limits={"memory": "8Gi"})
        .node_selector(pool="inference")
        .tolerations({"key": "spot", "operator": "Exists", "effect": "NoSchedule"})
    )
    dep = serving_deployment(md.owner(), md.spec(), target(1))
    pull, server = containers(dep)
    pod = dep["spec"]["template"]["spec"]
    assert server["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": "1"},
    }
    assert "nvidia.com/gpu" not in json.dumps(pull)
    assert pull["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"memory": "8Gi"},
    }
    assert pod["nodeSelector"] == {
        "pool": "inference",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
    }
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]


def test_cpu_only_pods_carry_nothing_gpu_related() -> None:
    md = model_deployment()
    dep = serving_deployment(md.owner(), md.spec(), target(1))
    pod = dep["spec"]["template"]["spec"]
    assert "nvidia" not in json.dumps(pod)
    assert "nodeSelector" not in pod and "tolerations" not in pod


def test_storage_settings_reach_the_pull_as_env_and_secret_references() -> None:
    md = (
        model_deployment()
        .endpoint("http://minio.storage:9000")
        .region("eu-west-1")
        .secret("s3-creds", accessKeyIdKey="id", secretAccessKeyKey="key")
    )
    pull, server = containers(serving_deployment(md.owner(), md.spec(), target(1)))
    env = {e["name"]: e for e in pull["env"]}
    assert env["AWS_ENDPOINT_URL"] == {
        "name": "AWS_ENDPOINT_URL",
        "value": "http://minio.storage:9000",
    }
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "id"}
    }
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "key"}
    }
    # The server loads from the emptyDir; it never needs the store's credentials.
    assert {e["name"] for e in server["env"]} == {"HOME"}


def test_no_secret_value_can_appear_in_any_object() -> None:
    secret_value = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    secret = {
        "data": {
            "AWS_ACCESS_KEY_ID": base64.b64encode(b"AKIAEXAMPLE").decode(),
            "AWS_SECRET_ACCESS_KEY": base64.b64encode(secret_value.encode()).decode(),
        }
    }
    md = model_deployment().secret("s3-creds")
    spec = md.spec()
    settings = storage_settings(spec.storage, secret, namespace=NAMESPACE)
    assert settings.secret_access_key == secret_value  # the operator itself can read it ...
    objects = [
        serving_deployment(md.owner(), spec, target(1)),
        serving_service(md.owner(), spec),
    ]
    rendered = json.dumps(objects)
    # ... but nothing it applies carries it, in clear or base64.
    assert secret_value not in rendered
    assert secret["data"]["AWS_SECRET_ACCESS_KEY"] not in rendered
    assert "AKIAEXAMPLE" not in rendered


def test_without_a_secret_ref_pods_use_their_own_identity() -> None:
    spec = parse_spec({"model": {"storageUri": "s3://models/digits"}}, name="digits")
    md = model_deployment()
    pull, _ = containers(serving_deployment(md.owner(), spec, target(1)))
    assert not any("valueFrom" in e for e in pull["env"])


def test_service_selects_every_version_of_the_serving_pods() -> None:
    md = model_deployment()
    service = serving_service(md.owner(), md.spec())
    assert service["metadata"]["name"] == "digits"
    assert service["metadata"]["ownerReferences"][0]["uid"] == UID
    assert service["spec"]["selector"] == SELECTOR
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8501, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": 8500, "targetPort": "grpc", "protocol": "TCP"},
    ]


def test_builders_are_idempotent() -> None:
    md = model_deployment().gpus(2).secret("s3-creds").replicas(2)
    first = serving_deployment(md.owner(), md.spec(), target(5))
    assert first == serving_deployment(md.owner(), md.spec(), target(5))
    assert serving_service(md.owner(), md.spec()) == serving_service(md.owner(), md.spec())


# -- spec.monitoring.capture ---------------------------------------------------------------


def test_capture_passes_every_setting_to_the_server_as_flags() -> None:
    md = model_deployment().capture(
        "s3://captures/digits",
        sampleRate=0.05,
        maxBytesPerHour="100Mi",
        exclude=["ssn", "dob"],
        mask={"inputs": ["email"], "keySecretRef": {"name": "mask-key", "key": "hmac"}},
        sse={"type": "aws:kms", "kmsKeyId": "alias/captures"},
        retention="720h",
    )
    _, server = containers(serving_deployment(md.owner(), md.spec(), target(1)))
    args = server["args"]
    flags = dict(
        zip(
            args[args.index("--capture-storage-uri") :: 2],
            args[args.index("--capture-storage-uri") + 1 :: 2],
            strict=True,
        )
    )
    assert flags == {
        "--capture-storage-uri": "s3://captures/digits",
        "--capture-sample-rate": "0.05",
        "--capture-max-bytes-per-hour": str(100 * 2**20),
        "--capture-exclude": "ssn,dob",
        "--capture-mask": "email",
        "--capture-sse": "aws:kms",
        "--capture-sse-kms-key-id": "alias/captures",
        "--capture-retention": "720h",
    }


def test_capture_credentials_and_the_mask_key_reach_the_server_by_reference_only() -> None:
    md = (
        model_deployment()
        .endpoint("http://minio.storage:9000")
        .secret("s3-creds")
        .capture(
            secretRef={"name": "capture-creds"},
            mask={"inputs": ["email"], "keySecretRef": {"name": "mask-key", "key": "hmac"}},
        )
    )
    pull, server = containers(serving_deployment(md.owner(), md.spec(), target(1)))
    env = {e["name"]: e for e in server["env"]}
    assert env["AWS_ENDPOINT_URL"]["value"] == "http://minio.storage:9000"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"] == {
        "secretKeyRef": {"name": "capture-creds", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "capture-creds", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert env["MODELSHIP_CAPTURE_MASK_KEY"] == {
        "name": "MODELSHIP_CAPTURE_MASK_KEY",
        "valueFrom": {"secretKeyRef": {"name": "mask-key", "key": "hmac"}},
    }
    assert all("value" in e or "valueFrom" in e for e in server["env"])
    # The pull still uses the model's own credentials.
    pull_env = {e["name"]: e for e in pull["env"]}
    assert pull_env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "s3-creds"


def test_capture_without_its_own_secret_uses_the_storage_secret() -> None:
    md = model_deployment().secret("s3-creds").capture()
    _, server = containers(serving_deployment(md.owner(), md.spec(), target(1)))
    env = {e["name"]: e for e in server["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "s3-creds"
    assert "MODELSHIP_CAPTURE_MASK_KEY" not in env
    assert "--capture-mask" not in server["args"]


def test_without_capture_the_server_gets_no_capture_flags_or_credentials() -> None:
    md = model_deployment().secret("s3-creds")
    _, server = containers(serving_deployment(md.owner(), md.spec(), target(1)))
    assert not any(a.startswith("--capture") for a in server["args"])
    assert {e["name"] for e in server["env"]} == {"HOME"}
