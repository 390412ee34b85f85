"""The training Job (and, for several workers, its headless Service): what the pods run,
where they may run, how they are owned, and how each worker learns its place."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelship.reconcile.training import (
    DEFAULT_TRAINER_IMAGE,
    TrainingSettings,
    is_training_service,
    training_job,
    training_job_name,
)
from tests.unit.reconcile.builders import NAMESPACE, UID
from tests.unit.training.builders import TrainedModelBuilder, trained

LABELS = {
    "app.kubernetes.io/name": "modelship",
    "app.kubernetes.io/instance": "digits",
    "app.kubernetes.io/component": "training",
    "app.kubernetes.io/managed-by": "modelship",
    "modelship.io/model": "digits",
    "modelship.io/version": "4",
}


def build(md: TrainedModelBuilder, version: int = 4, **kwargs: Any) -> list[dict[str, Any]]:
    return training_job(md.owner(), md.spec(), version, **kwargs)


def job_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (job,) = [o for o in objects if o["kind"] == "Job"]
    return job


def trainer(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_one_worker_is_a_plain_job_running_the_trainer_contract() -> None:
    md = trained().data("s3://datasets/digits").args("--epochs", "3")
    objects = build(md)
    assert [o["kind"] for o in objects] == ["Job"]
    job = objects[0]
    assert job["metadata"]["name"] == "digits-train-4" == training_job_name("digits", 4)
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 1
    assert "completionMode" not in job["spec"]
    container = trainer(job)
    assert [*container["command"], *container["args"]] == [
        "modelship", "train", "--entrypoint", "digits.train:train",
        "--output", "s3://models/digits", "--version", "4",
        "--data", "s3://datasets/digits", "--", "--epochs", "3",
    ]  # fmt: skip
    assert container["image"] == DEFAULT_TRAINER_IMAGE
    env = env_of(container)
    assert env["MODELSHIP_TRAINING_JOB"] == "digits-train-4"
    assert env["MODELSHIP_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "TF_CONFIG" not in env


def test_image_comes_from_the_spec_or_the_operator_setting() -> None:
    assert trainer(job_of(build(trained().image("registry.local/digits:7"))))["image"] == (
        "registry.local/digits:7"
    )
    settings = TrainingSettings(default_image="registry.local/trainer:1")
    assert trainer(job_of(build(trained(), settings=settings)))["image"] == (
        "registry.local/trainer:1"
    )


def test_labels_and_owner_follow_the_contract() -> None:
    for obj in build(trained().workers(2)):
        assert obj["metadata"]["labels"] == LABELS
        assert obj["metadata"]["namespace"] == NAMESPACE
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref["kind"] == "ModelDeployment" and ref["uid"] == UID and ref["controller"]
    job = job_of(build(trained()))
    assert job["spec"]["template"]["metadata"]["labels"] == LABELS


def test_the_model_name_is_the_models_not_the_resources() -> None:
    job = job_of(build(trained().model_name("digits-v2")))
    assert job["metadata"]["labels"]["modelship.io/model"] == "digits-v2"
    assert job["metadata"]["name"] == "digits-train-4"


def test_run_limits_come_from_the_spec_and_results_are_kept() -> None:
    job = job_of(build(trained().backoff_limit(3).deadline("1h30m")))
    assert job["spec"]["backoffLimit"] == 3
    assert job["spec"]["activeDeadlineSeconds"] == 5400
    assert "ttlSecondsAfterFinished" not in job["spec"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert trainer(job)["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert "activeDeadlineSeconds" not in job_of(build(trained()))["spec"]
    assert job_of(build(trained()))["spec"]["backoffLimit"] == 1


def test_a_permanent_failure_fails_the_job_without_retries() -> None:
    rules = job_of(build(trained()))["spec"]["podFailurePolicy"]["rules"]
    assert {
        "action": "FailJob",
        "onExitCodes": {"containerName": "trainer", "operator": "In", "values": [2]},
    } in rules
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]} in rules


@pytest.mark.parametrize("workers", [1, 3])
def test_every_pod_and_container_is_restricted(workers: int) -> None:
    job = job_of(build(trained().workers(workers).gpus(1)))
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
        assert context["runAsNonRoot"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert env_of(container)["HOME"] == "/tmp"
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


@pytest.mark.parametrize(
    ("md", "resources", "node_selector", "tolerates_gpus"),
    [
        (trained(), None, None, False),
        (
            trained().gpus(2),
            {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}},
            None,
            True,
        ),
        (
            trained()
            .gpus(1, product="NVIDIA-H100-80GB-HBM3")
            .resources(requests={"cpu": "4", "memory": "16Gi"}, limits={"memory": "16Gi"}),
            {
                "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
            },
            {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            True,
        ),
        (
            trained().gpus(1, resource_name="nvidia.com/mig-1g.10gb"),
            {
                "requests": {"nvidia.com/mig-1g.10gb": "1"},
                "limits": {"nvidia.com/mig-1g.10gb": "1"},
            },
            None,
            True,
        ),
        (
            trained().resources(requests={"cpu": "2"}),
            {"requests": {"cpu": "2"}},
            None,
            False,
        ),
    ],
    ids=["cpu", "two-gpus", "product-and-resources", "mig", "cpu-resources"],
)
def test_gpu_settings_map_to_pod_fields(
    md: TrainedModelBuilder,
    resources: dict[str, Any] | None,
    node_selector: dict[str, str] | None,
    tolerates_gpus: bool,
) -> None:
    job = job_of(build(md))
    pod = job["spec"]["template"]["spec"]
    assert trainer(job).get("resources") == resources
    assert pod.get("nodeSelector") == node_selector
    gpu_toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert (gpu_toleration in pod.get("tolerations", [])) is tolerates_gpus


def test_s3_credentials_are_only_referenced() -> None:
    md = trained().endpoint("http://minio.storage:9000").secret("s3-creds")
    objects = build(md)
    container = trainer(job_of(objects))
    env = env_of(container)
    assert env["AWS_ENDPOINT_URL"] == "http://minio.storage:9000"
    assert env["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "s3-creds", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    text = json.dumps(objects)
    assert "envFrom" not in text  # no whole-Secret import
    assert '"kind": "Secret"' not in text


def test_extra_env_passes_through_after_the_operators_own() -> None:
    md = (
        trained()
        .secret("s3-creds")
        .env(
            {"name": "WANDB_PROJECT", "value": "digits-$(MODELSHIP_TRAINING_JOB)"},
            {"name": "DATA_TOKEN", "valueFrom": {"secretKeyRef": {"name": "data", "key": "token"}}},
        )
    )
    container = trainer(job_of(build(md, version=4)))
    names = [var["name"] for var in container["env"]]
    assert names.index("WANDB_PROJECT") > names.index("MODELSHIP_TRAINING_JOB")
    assert names[-2:] == ["WANDB_PROJECT", "DATA_TOKEN"]
    env = env_of(container)
    assert env["WANDB_PROJECT"] == "digits-$(MODELSHIP_TRAINING_JOB)"
    assert env["DATA_TOKEN"] == {"secretKeyRef": {"name": "data", "key": "token"}}
    assert len(names) == len(set(names))
    # With several workers the user's come after the worker index and TF_CONFIG as well.
    workers = [var["name"] for var in trainer(job_of(build(md.workers(2), version=4)))["env"]]
    assert workers[-4:] == ["MODELSHIP_WORKER_INDEX", "TF_CONFIG", "WANDB_PROJECT", "DATA_TOKEN"]


def test_several_workers_are_an_indexed_job_behind_a_headless_service() -> None:
    objects = build(trained().workers(3))
    assert [o["kind"] for o in objects] == ["Service", "Job"]  # names resolve before pods start
    service, job = objects
    assert service["metadata"]["name"] == job["metadata"]["name"] == "digits-train-4"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "modelship",
        "app.kubernetes.io/instance": "digits",
        "app.kubernetes.io/component": "training",
        "modelship.io/version": "4",
    }
    # The selector picks this run's pods, and only those.
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "tf", "port": 2222, "targetPort": 2222, "protocol": "TCP"}
    ]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 3
    assert spec["template"]["spec"]["subdomain"] == "digits-train-4"
    assert trainer(job)["ports"] == [{"name": "tf", "containerPort": 2222, "protocol": "TCP"}]


def expand(env: list[dict[str, Any]], index: int) -> dict[str, str]:
    """The env a pod of completion index `index` sees: the Job controller's annotation read
    through the downward API, and `$(VAR)` references to earlier variables expanded, as the
    kubelet does."""
    seen: dict[str, str] = {}
    for entry in env:
        if "value" in entry:
            value = entry["value"]
            for name, known in seen.items():
                value = value.replace(f"$({name})", known)
            seen[entry["name"]] = value
            continue
        path = entry["valueFrom"].get("fieldRef", {}).get("fieldPath")
        if path == "metadata.annotations['batch.kubernetes.io/job-completion-index']":
            seen[entry["name"]] = str(index)
    return seen


def test_each_worker_gets_the_tf_config_of_its_index() -> None:
    job = job_of(build(trained().workers(3)))
    hosts = [f"digits-train-4-{i}.digits-train-4:2222" for i in range(3)]
    for index in range(3):
        tf_config = json.loads(expand(trainer(job)["env"], index)["TF_CONFIG"])
        assert tf_config == {
            "cluster": {"worker": hosts},
            "task": {"type": "worker", "index": index},
        }


def test_a_spec_without_training_builds_nothing() -> None:
    with pytest.raises(ValueError, match=r"spec\.training is not set"):
        build(trained().untrained())


def test_the_spec_hash_is_recorded_on_the_job() -> None:
    job = job_of(build(trained(), spec_hash="0123456789abcdef"))
    assert job["metadata"]["annotations"] == {"modelship.io/training-spec-hash": "0123456789abcdef"}


def test_only_a_training_service_of_this_model_deployment_counts_as_one() -> None:
    md = trained().workers(2)
    (service, _) = build(md, version=3)
    assert is_training_service(service, md.owner())
    assert not is_training_service(service, trained("other").owner())
    labels = {
        "app.kubernetes.io/name": "modelship",
        "app.kubernetes.io/instance": "digits-train-3",  # a ModelDeployment named so
        "app.kubernetes.io/component": "serving",
    }
    serving = {"metadata": {"name": "digits-train-3", "labels": labels}}
    assert not is_training_service(serving, md.owner())


def test_the_training_run_is_told_where_the_models_captured_requests_are() -> None:
    env = env_of(trainer(job_of(build(trained().model_name("mnist").capture("s3://cap/prod/")))))
    assert env["MODELSHIP_CAPTURE_URI"] == "s3://cap/prod/mnist"
    assert "MODELSHIP_CAPTURE_URI" not in env_of(trainer(job_of(build(trained()))))
