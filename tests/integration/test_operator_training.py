"""Training Jobs on the real test bed, with the operator running as a process: the Job it
creates, what happens when the Job completes (kwok plays the trainer: the test publishes the
version the trainer would have, then lets the pods exit, in the trainer's own order; a Job
kwok completes without a publish is a run that failed to publish), the gate, the cron
schedule with an injected clock, the retrain annotation, and a run whose pods cannot be
scheduled.

The real trainer process is exercised in `tests/integration/test_trainer_s3.py` and, with
the operator, end to end in `tests/e2e/test_lifecycle.py`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelship.artifacts import VersionInfo
from modelship.dev.s3 import free_port
from modelship.dev.simulation import A100, TRAINER_EXIT_ANNOTATION, TRAINER_IMAGE
from tests.cluster_fixtures import OperatorProcess, wait_for
from tests.integration.counters import wait_passes
from tests.integration.operator_env import OPERATOR_ENV, ModelWorld, condition_of, is_ready_with

pytestmark = pytest.mark.integration

GPU = "nvidia.com/gpu"


def training_state(state: str, version: int | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        run = status.get("training") or {}
        return run.get("state") == state and (version is None or run.get("version") == version)

    return check


def job(world: ModelWorld, name: str) -> dict[str, Any]:
    found = wait_for(
        lambda: world.cluster.get("job", name, world.namespace), timeout=30, what=f"Job {name}"
    )
    return found  # type: ignore[no-any-return]


def job_pods(world: ModelWorld, job_name: str) -> list[dict[str, Any]]:
    return world.cluster.list("pods", world.namespace, f"batch.kubernetes.io/job-name={job_name}")


def trained_by_kwok(training: dict[str, Any]) -> dict[str, Any]:
    """spec.training whose pods run until `finish_run` lets them exit."""
    return {**training, "image": TRAINER_IMAGE}


def finish_run(
    world: ModelWorld, job_name: str, metrics: dict[str, float], workers: int = 1
) -> VersionInfo:
    """What the trainer does at the end of a run: publish the version, then exit 0."""
    published = world.publish(metrics)
    wait_for(
        lambda: len(job_pods(world, job_name)) == workers,
        timeout=30,
        what=f"the {workers} pod(s) of Job {job_name}",
    )
    world.cluster.kubectl(
        "annotate", "pods", "-l", f"batch.kubernetes.io/job-name={job_name}",
        f"{TRAINER_EXIT_ANNOTATION}=true", "-n", world.namespace,
    )  # fmt: skip
    return published


def job_names(world: ModelWorld) -> list[str]:
    return sorted(j["metadata"]["name"] for j in world.cluster.list("jobs", world.namespace))


def expand_env(container: dict[str, Any], pod: dict[str, Any]) -> dict[str, str]:
    """The environment the kubelet would give the container: fieldRefs read from the pod,
    `$(NAME)` references to variables defined earlier expanded (kwok runs no kubelet)."""
    values: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            values[var["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: values.get(m.group(1), m.group(0)),
                var["value"],
            )
            continue
        path = ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath", "")
        annotation = re.fullmatch(r"metadata\.annotations\['(.+)'\]", path)
        if annotation:
            values[var["name"]] = pod["metadata"]["annotations"][annotation.group(1)]
        elif path == "metadata.name":
            values[var["name"]] = pod["metadata"]["name"]
    return values


def test_the_job_is_gpu_scheduled_and_trains_the_version_it_was_given(
    operating: ModelWorld,
) -> None:
    world = operating
    md = world.model_deployment().obj()
    md["spec"]["training"] = {
        "entrypoint": "digits_train:main",
        "dataUri": "s3://datasets/digits",
        "args": ["--epochs", "3"],
        "env": [{"name": "SEED", "value": "7"}],
        "gpu": {"count": 2, "product": A100},
    }
    world.cluster.apply(md, namespace=world.namespace)

    # No version exists: the operator picks 1 before it creates the Job, and says so.
    status = world.wait_status(
        lambda s: (s.get("training") or {}).get("jobName"), "a training run in status.training"
    )
    assert status["training"]["version"] == 1
    assert status["phase"] == "Training"
    created = job(world, "digits-train-1")
    assert created["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    assert created["metadata"]["labels"]["modelship.io/version"] == "1"
    pod_spec = created["spec"]["template"]["spec"]
    (trainer,) = pod_spec["containers"]
    args = trainer["args"]
    assert args[:7] == [
        "train",
        "--entrypoint",
        "digits_train:main",
        "--output",
        world.uri,
        "--version",
        "1",
    ]
    assert args[7:] == ["--data", "s3://datasets/digits", "--", "--epochs", "3"]
    assert {"name": "SEED", "value": "7"} in trainer["env"]
    assert trainer["resources"]["requests"][GPU] == "2"
    assert trainer["resources"]["limits"][GPU] == "2"
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod_spec["tolerations"]
    assert pod_spec["nodeSelector"] == {"nvidia.com/gpu.product": A100}
    secret_refs = {
        var["name"]: var["valueFrom"]["secretKeyRef"]["name"]
        for var in trainer["env"]
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    # Referenced, never copied.
    assert secret_refs == {"AWS_ACCESS_KEY_ID": "s3-creds", "AWS_SECRET_ACCESS_KEY": "s3-creds"}

    # The real scheduler puts its pod on an A100 node; kwok runs it to completion.
    def scheduled() -> str | None:
        pods = job_pods(world, "digits-train-1")
        return pods[0]["spec"].get("nodeName") if pods else None

    node = wait_for(scheduled, timeout=30, what="the training pod to be scheduled")
    assert node.startswith("gpu-a100-")
    wait_for(
        lambda: any(
            c["type"] == "Complete" and c["status"] == "True"
            for c in (world.cluster.get("job", "digits-train-1", world.namespace) or {})
            .get("status", {})
            .get("conditions", [])
        ),
        timeout=60,
        what="Job digits-train-1 to complete",
    )
    # kwok completed the Job, but nothing published version 1 (the real trainer publishes
    # before it exits): a failed run, said as soon as it is seen, and not started again.
    status = world.wait_status(training_state("Failed", 1), "the run seen as Failed")
    run = status["training"]
    assert run["reason"] == "VersionNotPublished"
    assert run["message"].startswith("Job digits-train-1 completed but version 1 is not in")
    assert "kubectl logs job/digits-train-1" in run["message"]
    assert condition_of(status, "Stalled")["reason"] == "TrainingFailed"
    warnings = [e["message"] for e in world.events() if e["reason"] == "TrainingFailed"]
    assert any(m.startswith("VersionNotPublished: ") for m in warnings), warnings
    assert job_names(world) == ["digits-train-1"]


def test_two_workers_get_an_indexed_job_a_headless_service_and_their_tf_config(
    operating: ModelWorld,
) -> None:
    world = operating
    md = world.model_deployment().obj()
    md["spec"]["training"] = {"entrypoint": "digits_train:main", "workers": 2}
    world.cluster.apply(md, namespace=world.namespace)

    created = job(world, "digits-train-1")
    assert created["spec"]["completionMode"] == "Indexed"
    assert created["spec"]["completions"] == created["spec"]["parallelism"] == 2
    service = world.cluster.get("service", "digits-train-1", world.namespace)
    assert service is not None and service["spec"]["clusterIP"] == "None"

    def both_pods() -> list[dict[str, Any]] | None:
        pods = job_pods(world, "digits-train-1")
        return pods if len(pods) >= 2 else None

    pods = wait_for(both_pods, timeout=30, what="both worker pods")
    configs = {}
    for pod in pods:
        # The Job controller sets the index and the stable hostname the Service resolves.
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert pod["spec"]["hostname"] == f"digits-train-1-{index}"
        assert pod["spec"]["subdomain"] == "digits-train-1"
        env = expand_env(pod["spec"]["containers"][0], pod)
        configs[index] = json.loads(env["TF_CONFIG"])
    assert sorted(configs) == ["0", "1"]
    hosts = ["digits-train-1-0.digits-train-1:2222", "digits-train-1-1.digits-train-1:2222"]
    for index, config in configs.items():
        assert config == {
            "cluster": {"worker": hosts},
            "task": {"type": "worker", "index": int(index)},
        }


def test_a_completed_run_whose_version_passes_the_gate_rolls_out(operating: ModelWorld) -> None:
    world = operating
    md = world.model_deployment().obj()
    md["spec"]["training"] = trained_by_kwok(
        {"entrypoint": "digits_train:main", "gate": {"metric": "accuracy", "min": 0.9}}
    )
    world.cluster.apply(md, namespace=world.namespace)
    job(world, "digits-train-1")
    finish_run(world, "digits-train-1", {"accuracy": 0.97})

    status = world.wait_status(is_ready_with(1), "version 1 gated and rolled out", timeout=90)
    status = world.wait_status(training_state("Succeeded", 1), "the run recorded as Succeeded")
    assert status["training"]["metrics"] == {"accuracy": 0.97}
    assert world.pods()[0]["metadata"]["labels"]["modelship.io/version"] == "1"


def test_the_gate_rejects_a_worse_version_and_the_good_one_keeps_serving(
    operating: ModelWorld,
) -> None:
    world = operating
    world.publish({"accuracy": 0.95})
    md = world.model_deployment().obj()
    md["spec"]["training"] = trained_by_kwok(
        {
            "entrypoint": "digits_train:main",
            "gate": {"metric": "accuracy", "min": 0.9, "mustImprove": True},
        }
    )
    world.cluster.apply(md, namespace=world.namespace)
    world.wait_status(is_ready_with(1), "version 1 serving")
    assert job_names(world) == []  # a version exists and nothing asks for training

    # On demand: a new value of the retrain annotation starts one run, version 2.
    world.cluster.kubectl(
        "annotate", "md", "digits", "modelship.io/retrain=first", "-n", world.namespace
    )
    job(world, "digits-train-2")
    finish_run(world, "digits-train-2", {"accuracy": 0.93})  # above the minimum, worse than 1

    status = world.wait_status(training_state("Rejected", 2), "version 2 rejected by the gate")
    run = status["training"]
    assert run["reason"] == "GateRejected"
    assert "0.93" in run["message"] and "0.95" in run["message"], run["message"]
    assert status["currentVersion"] == 1
    assert condition_of(status, "Ready")["status"] == "True"
    assert {e["reason"] for e in world.events()} >= {"GateRejected"}
    assert all(p["metadata"]["labels"]["modelship.io/version"] == "1" for p in world.pods())

    # A new value starts the next run, version 3, which is better and rolls out.
    world.cluster.kubectl(
        "annotate",
        "md",
        "digits",
        "modelship.io/retrain=second",
        "--overwrite",
        "-n",
        world.namespace,
    )
    job(world, "digits-train-3")
    finish_run(world, "digits-train-3", {"accuracy": 0.99})
    world.wait_status(is_ready_with(3), "version 3, better, rolled out", timeout=90)
    assert job_names(world) == ["digits-train-2", "digits-train-3"]


def test_unschedulable_training_pods_show_the_schedulers_message(operating: ModelWorld) -> None:
    world = operating
    md = world.model_deployment().obj()
    md["spec"]["training"] = {"entrypoint": "digits_train:main", "gpu": {"count": 16}}
    world.cluster.apply(md, namespace=world.namespace)
    status = world.wait_status(
        lambda s: (s.get("training") or {}).get("reason") == "Unschedulable",
        "the training run reported Unschedulable",
    )
    message = status["training"]["message"]
    assert "digits-train-1" in message
    assert "0/6 nodes are available" in message and "Insufficient nvidia.com/gpu" in message


def test_the_cron_schedule_starts_a_run_when_it_is_due(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    world.publish({"accuracy": 0.9})
    md = world.model_deployment().obj()
    md["spec"]["training"] = {"entrypoint": "digits_train:main", "schedule": "0 3 * * *"}
    world.cluster.apply(md, namespace=world.namespace)

    # The operator's clock (injected at its start) is a day and an hour ahead, so the 03:00
    # (UTC) run that follows the resource's creation is due at once. Only that clock: S3
    # request signatures and TLS still use the real time.
    world.operator = run_operator(
        "--namespace", world.namespace, env={**OPERATOR_ENV, "MODELSHIP_CLOCK_OFFSET": "25h"}
    )
    status = world.wait_status(
        lambda s: (s.get("training") or {}).get("jobName") == "digits-train-2",
        "the scheduled run",
    )
    assert job_names(world) == ["digits-train-2"]
    started_events = [e["message"] for e in world.events() if e["reason"] == "TrainingStarted"]
    assert any('the schedule "0 3 * * *" was due' in m for m in started_events), started_events
    started = datetime.fromisoformat(status["training"]["startTime"].replace("Z", "+00:00"))
    assert started > datetime.now(UTC) + timedelta(hours=24)  # the injected clock was used


def test_without_a_due_schedule_nothing_is_trained(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    port = free_port()
    world.operator = run_operator(
        "--namespace", world.namespace, env={**OPERATOR_ENV, "MODELSHIP_METRICS_PORT": str(port)}
    )
    world.publish({"accuracy": 0.9})
    md = world.model_deployment().obj()
    md["spec"]["training"] = {"entrypoint": "digits_train:main", "schedule": "0 3 * * *"}
    world.cluster.apply(md, namespace=world.namespace)
    world.wait_status(is_ready_with(1), "version 1 serving")
    wait_passes(port, 2)  # two more polls, each of which could have started a run
    assert job_names(world) == []
    assert not (world.status().get("training") or {}).get("jobName")


def test_only_the_last_three_runs_are_kept_with_their_services(operating: ModelWorld) -> None:
    world = operating
    world.publish({"accuracy": 0.9})
    md = world.model_deployment().obj()
    md["spec"]["training"] = trained_by_kwok({"entrypoint": "digits_train:main", "workers": 2})
    world.cluster.apply(md, namespace=world.namespace)
    world.wait_status(is_ready_with(1), "version 1 serving")

    for run, value in enumerate(["a", "b", "c", "d"], start=2):
        world.cluster.kubectl(
            "annotate", "md", "digits", f"modelship.io/retrain={value}", "--overwrite",
            "-n", world.namespace,
        )  # fmt: skip
        job(world, f"digits-train-{run}")
        assert finish_run(world, f"digits-train-{run}", {"accuracy": 0.9}, workers=2).number == run
        world.wait_status(
            lambda s, run=run: (
                (s.get("training") or {}).get("jobName") == f"digits-train-{run}"
                and s["training"].get("metrics") is not None
            ),
            f"run {run} finished with its version published",
        )

    def kept() -> bool:
        return job_names(world) == ["digits-train-3", "digits-train-4", "digits-train-5"]

    wait_for(kept, timeout=30, what="the oldest run's Job deleted")
    # Its headless Service goes with it; the kept runs keep theirs.
    wait_for(
        lambda: world.cluster.get("service", "digits-train-2", world.namespace) is None,
        timeout=30,
        what="the oldest run's headless Service deleted",
    )
    for run in (3, 4, 5):
        assert world.cluster.get("service", f"digits-train-{run}", world.namespace) is not None


def test_a_job_the_api_server_refuses_is_reported_not_retried_in_a_loop(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    """Two workers: the run's headless Service is applied before its Job, so it must go when
    the Job is refused."""
    port = free_port()
    world.operator = run_operator(
        "--namespace", world.namespace, env={**OPERATOR_ENV, "MODELSHIP_METRICS_PORT": str(port)}
    )
    md = world.model_deployment().obj()
    # Our schema cannot know every field path the kubelet supports; the Job API does.
    bad = {"name": "WHERE", "valueFrom": {"fieldRef": {"fieldPath": "status.nowhere"}}}
    md["spec"]["training"] = {"entrypoint": "digits_train:main", "env": [bad], "workers": 2}
    world.cluster.apply(md, namespace=world.namespace)
    status = world.wait_status(
        lambda s: condition_of(s, "Stalled").get("reason") == "TrainingFailed",
        "Stalled with reason TrainingFailed",
    )
    run = status["training"]
    assert (run["state"], run["reason"]) == ("Failed", "TrainingJobRefused")
    assert "status.nowhere" in run["message"], run["message"]
    assert "status.nowhere" in condition_of(status, "Ready")["message"]
    assert job_names(world) == []
    assert any(e["reason"] == "TrainingFailed" for e in world.events())
    wait_passes(port, 2)  # looked again twice: not tried again with the same spec
    assert world.status()["training"]["jobName"] == run["jobName"]
    assert job_names(world) == []
    assert world.cluster.get("service", run["jobName"], world.namespace) is None
