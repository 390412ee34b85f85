"""The training Job `<md>-train-<version>` that produces one new version, and what its
observed state means (`training_outcome`).

One worker is a plain Job. Several workers are an Indexed Job (completions = parallelism =
workers) plus a headless Service of the same name: each pod gets the stable DNS name
`<job>-<index>.<job>` and its TF_CONFIG from Kubernetes itself, by expanding the completion
index (read through the downward API) into a TF_CONFIG template, so any TensorFlow program
sees a correct TF_CONFIG with no init step and no code of ours.

The env vars, the exit code of a permanent failure and the termination log's lines are the
contract between this builder and the trainer (`modelship.training`): both read them from
`modelship.api.trainer`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from modelship.api import ModelDeploymentSpec, TrainingSpec
from modelship.api.reasons import (
    CREATE_CONTAINER_CONFIG_ERROR,
    CREATE_CONTAINER_ERROR,
    DEADLINE_EXCEEDED,
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACK_OFF,
    INVALID_IMAGE_NAME,
    OOM_KILLED,
    TRAINING_FAILED,
    TRAINING_JOB_NOT_FOUND,
    TRAINING_PENDING,
    TRAINING_RUNNING,
    TRAINING_SUCCEEDED,
    UNSCHEDULABLE,
)
from modelship.api.trainer import (
    ENV_POD_NAME,
    ENV_TF_CONFIG,
    ENV_TRAINING_JOB,
    ENV_WORKER_INDEX,
    PERMANENT_FAILURE_EXIT_CODE,
)
from modelship.reconcile.capture import capture_location_env
from modelship.reconcile.gpu import gpu_pod_fields
from modelship.reconcile.owner import (
    LABEL_VERSION,
    TRAINING,
    Owner,
    object_labels,
    owned_metadata,
    selector_labels,
)
from modelship.reconcile.podsecurity import container_security_context, pod_security_context
from modelship.reconcile.storage import storage_env

DEFAULT_TRAINER_IMAGE: Final = "ghcr.io/modelship/trainer:0.1.0"
TRAINER_CONTAINER: Final = "trainer"
SCRATCH_DIR: Final = "/tmp"
# The port each worker's TensorFlow gRPC server listens on (TF's customary one).
TF_PORT: Final = 2222
TF_PORT_NAME: Final = "tf"
ANNOTATION_TRAINING_SPEC_HASH: Final = "modelship.io/training-spec-hash"
# Set by the Job controller on every pod of an Indexed Job.
COMPLETION_INDEX_ANNOTATION: Final = "batch.kubernetes.io/job-completion-index"

TrainingState = Literal["Pending", "Running", "Succeeded", "Failed"]


# Waiting reasons of a container that will not start by itself: each needs a person.
_STUCK_WAITING: Final = frozenset(
    {
        IMAGE_PULL_BACK_OFF,
        ERR_IMAGE_PULL,
        INVALID_IMAGE_NAME,
        CREATE_CONTAINER_CONFIG_ERROR,
        CREATE_CONTAINER_ERROR,
    }
)
# "Reason: sentence", the first line the trainer writes to its termination log.
_REASON_LINE = re.compile(r"^([A-Z][a-z]+(?:[A-Z0-9][A-Za-z0-9]*)*): (.+)$")
# ... and the line it prints last to stderr, found in the log when the file is missing.
_ERROR_LINE = re.compile(r"^error: ([A-Z][a-z]+(?:[A-Z0-9][A-Za-z0-9]*)*): (.+)$")


@dataclass(frozen=True)
class TrainingSettings:
    """The operator's own settings for training (from its command line / Helm values)."""

    default_image: str = DEFAULT_TRAINER_IMAGE


def training_job_name(md_name: str, version: int) -> str:
    return f"{md_name}-train-{version}"


def training_job(
    owner: Owner,
    spec: ModelDeploymentSpec,
    version: int,
    settings: TrainingSettings | None = None,
    *,
    spec_hash: str | None = None,
) -> list[dict[str, Any]]:
    """The objects one training run needs, ready for server-side apply, in order: for several
    workers the headless Service first (so the workers' names resolve), then the Job.

    Apply them once, when the run starts: a Job's pod template is immutable, and every run
    has its own version number and so its own names. `spec_hash` (from
    `training_spec_hash`) is recorded on the Job as an annotation.
    """
    training = spec.training
    if training is None:
        raise ValueError("spec.training is not set: there is nothing to train")
    if version < 1:
        raise ValueError(f"a trained version number is 1 or more, not {version}")
    settings = settings or TrainingSettings()
    name = training_job_name(owner.name, version)
    model = spec.model.name or owner.name
    labels = object_labels(owner, TRAINING, model, version)
    workers = training.workers

    container = _trainer_container(spec, training, name, version, settings, model)
    pod_spec: dict[str, Any] = {
        # The trainer never talks to the Kubernetes API.
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    gpu = gpu_pod_fields(
        training.gpu,
        resources=training.resources,
        node_selector=training.node_selector,
        tolerations=training.tolerations,
    )
    if gpu.resources:
        container["resources"] = gpu.resources
    if gpu.node_selector:
        pod_spec["nodeSelector"] = gpu.node_selector
    if gpu.tolerations:
        pod_spec["tolerations"] = gpu.tolerations

    job_spec: dict[str, Any] = {
        "completions": workers,
        "parallelism": workers,
        "backoffLimit": training.backoff_limit,
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": TRAINER_CONTAINER,
                        "operator": "In",
                        "values": [PERMANENT_FAILURE_EXIT_CODE],
                    },
                },
                # A pod evicted or preempted did nothing wrong: retry it without counting.
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        },
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
    }
    if training.active_deadline is not None:
        job_spec["activeDeadlineSeconds"] = max(1, math.ceil(training.active_deadline))
    # ttlSecondsAfterFinished stays unset: the operator reads the finished Job's result.

    objects: list[dict[str, Any]] = []
    if workers > 1:
        job_spec["completionMode"] = "Indexed"
        # With a subdomain, an Indexed Job's pods get the hostname `<job>-<index>` and the
        # DNS name `<job>-<index>.<job>` through the headless Service below.
        pod_spec["subdomain"] = name
        container["ports"] = [{"name": TF_PORT_NAME, "containerPort": TF_PORT, "protocol": "TCP"}]
        container["env"] = [*container["env"], *_worker_env(name, workers)]
        objects.append(_workers_service(owner, name, labels, version))
    # Last, after every variable of ours (the worker index and TF_CONFIG too), so a value may
    # refer to any of them with $(NAME); the API server refuses the names we set.
    container["env"] = [*container["env"], *training.env]

    annotations = {ANNOTATION_TRAINING_SPEC_HASH: spec_hash} if spec_hash else None
    objects.append(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": owned_metadata(owner, name, labels, annotations),
            "spec": job_spec,
        }
    )
    return objects


def _trainer_container(
    spec: ModelDeploymentSpec,
    training: TrainingSpec,
    job_name: str,
    version: int,
    settings: TrainingSettings,
    model: str,
) -> dict[str, Any]:
    args = [
        "train",
        "--entrypoint",
        training.entrypoint,
        "--output",
        spec.model.storage_uri,
        "--version",
        str(version),
    ]
    if training.data_uri:
        args += ["--data", training.data_uri]
    if training.args:
        args += ["--", *training.args]  # after "--", so they can never be read as our flags
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": SCRATCH_DIR},
        {"name": ENV_TRAINING_JOB, "value": job_name},
        {"name": ENV_POD_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        *storage_env(spec.storage),
        # The captured requests (spec.monitoring.capture), read with the same credentials.
        *capture_location_env(spec, model),
    ]
    return {
        "name": TRAINER_CONTAINER,
        "image": training.image or settings.default_image,
        "command": ["modelship"],
        "args": args,
        "env": env,
        "volumeMounts": [{"name": "tmp", "mountPath": SCRATCH_DIR}],
        "securityContext": container_security_context(),
        # The trainer writes "<Reason>: <sentence>" to the termination log; a crash before
        # that still leaves the end of its output in the pod's status.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def is_training_service(service: Mapping[str, Any], owner: Owner) -> bool:
    """Whether a Service is a training run's headless Service of this ModelDeployment (and
    not, say, the serving Service of another ModelDeployment that has the same name)."""
    labels = (service.get("metadata") or {}).get("labels") or {}
    return labels.items() >= selector_labels(owner, TRAINING).items()


def worker_hosts(job_name: str, workers: int) -> list[str]:
    """The `host:port` of every worker, in index order (worker 0 is the chief)."""
    return [f"{job_name}-{index}.{job_name}:{TF_PORT}" for index in range(workers)]


def _worker_env(job_name: str, workers: int) -> list[dict[str, Any]]:
    """The completion index, then TF_CONFIG with `$(MODELSHIP_WORKER_INDEX)` in it: the
    kubelet expands a reference to a variable defined earlier in the list, so each pod's
    TF_CONFIG names its own index."""
    index_placeholder = "__INDEX__"
    tf_config = json.dumps(
        {
            "cluster": {"worker": worker_hosts(job_name, workers)},
            "task": {"type": "worker", "index": index_placeholder},
        },
        separators=(",", ":"),
    ).replace(f'"{index_placeholder}"', f"$({ENV_WORKER_INDEX})")
    return [
        {
            "name": ENV_WORKER_INDEX,
            "valueFrom": {
                "fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}
            },
        },
        {"name": ENV_TF_CONFIG, "value": tf_config},
    ]


def _workers_service(
    owner: Owner, name: str, labels: Mapping[str, str], version: int
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owned_metadata(owner, name, labels),
        "spec": {
            "clusterIP": "None",
            # Workers look each other up while starting, before any of them is Ready.
            "publishNotReadyAddresses": True,
            "selector": {**selector_labels(owner, TRAINING), LABEL_VERSION: str(version)},
            "ports": [
                {"name": TF_PORT_NAME, "port": TF_PORT, "targetPort": TF_PORT, "protocol": "TCP"}
            ],
        },
    }


# -- reading a run's result -----------------------------------------------------------------


@dataclass(frozen=True)
class TrainingOutcome:
    """Where a training run stands, in the words `status.training` uses."""

    state: TrainingState
    reason: str
    message: str

    @property
    def finished(self) -> bool:
        return self.state in ("Succeeded", "Failed")


def training_outcome(
    job: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]
) -> TrainingOutcome:
    """Read a training Job (None: it does not exist) and its pods (those with the Job's
    labels) into a state, a reason and a message.

    A failed run's reason is the one the trainer wrote to its termination log (e.g.
    EntrypointNotFound, InvalidModel, TrainingFailed) when there is one; otherwise the
    container's (OOMKilled) or the Job's (DeadlineExceeded, BackoffLimitExceeded).
    """
    if job is None:
        return TrainingOutcome(
            "Failed",
            TRAINING_JOB_NOT_FOUND,
            "the training Job no longer exists (was it deleted?); the run is counted as failed.",
        )
    name = str((job.get("metadata") or {}).get("name", "the training Job"))
    status = job.get("status") or {}
    conditions = {
        str(c.get("type")): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    attempts = sorted(pods, key=_created)
    failed_pods = [p for p in attempts if _terminated(p, failed=True) is not None]

    for kind in ("Failed", "FailureTarget"):
        condition = conditions.get(kind)
        if condition is not None:
            return _failure(name, job, condition, failed_pods)
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        chief = _chief_message(attempts)
        detail = f": {chief}" if chief else "."
        return TrainingOutcome("Succeeded", TRAINING_SUCCEEDED, f"Job {name} completed{detail}")

    live = [p for p in attempts if _terminated(p) is None and not _deleted(p)]
    for pod in live:
        stuck = _stuck(pod)
        if stuck is not None:
            reason, detail = stuck
            return TrainingOutcome("Pending", reason, f"Job {name}: pod {_name(pod)} {detail}")
    retried = ""
    if failed_pods:
        last = _failure_detail(failed_pods[-1])
        retried = f"; {len(failed_pods)} failed attempt(s) so far, the last: {last[0]}: {last[1]}"
    running = [p for p in live if (p.get("status") or {}).get("phase") == "Running"]
    workers = int((job.get("spec") or {}).get("parallelism") or 1)
    if running:
        return TrainingOutcome(
            "Running",
            TRAINING_RUNNING,
            f"Job {name} is training ({len(running)} of {workers} worker(s) running){retried}.",
        )
    return TrainingOutcome(
        "Pending", TRAINING_PENDING, f"Job {name} is waiting for its pods to start{retried}."
    )


def _failure(
    name: str,
    job: Mapping[str, Any],
    condition: Mapping[str, Any],
    failed_pods: Sequence[Mapping[str, Any]],
) -> TrainingOutcome:
    job_reason = str(condition.get("reason") or TRAINING_FAILED)
    if job_reason == DEADLINE_EXCEEDED:
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        limit = f" of {deadline}s" if deadline else ""
        return TrainingOutcome(
            "Failed",
            DEADLINE_EXCEEDED,
            f"Job {name} ran past its deadline{limit} and was stopped; raise "
            "spec.training.activeDeadline or make training faster.",
        )
    if failed_pods:
        reason, detail = _failure_detail(failed_pods[-1])
        attempts = f" after {len(failed_pods)} attempt(s)" if len(failed_pods) > 1 else ""
        return TrainingOutcome("Failed", reason, f"Job {name} failed{attempts}: {detail}")
    message = str(condition.get("message") or "the Job failed")
    return TrainingOutcome("Failed", job_reason, f"Job {name} failed: {message}")


def _failure_detail(pod: Mapping[str, Any]) -> tuple[str, str]:
    """(reason, sentence) of one failed attempt, from what the trainer wrote if it could."""
    terminated = _terminated(pod, failed=True) or {}
    if terminated.get("reason") == OOM_KILLED:
        return OOM_KILLED, (
            f"pod {_name(pod)} ran out of memory; raise the memory limit in "
            "spec.training.resources or train with less data per batch."
        )
    text = str(terminated.get("message") or "").strip()
    lines = text.splitlines()
    # The trainer's termination log is one "Reason: sentence" line; without it (a crash
    # before writing), the message is the end of the log, whose last "error:" line says it.
    match = _REASON_LINE.match(lines[0]) if len(lines) == 1 else None
    for line in reversed(lines if match is None else []):
        match = _ERROR_LINE.match(line.strip())
        if match:
            break
    if match:
        return match.group(1), match.group(2).strip()
    code = terminated.get("exitCode")
    tail = text.splitlines()[-1].strip() if text else ""
    output = f"; its last output: {tail}" if tail else ""
    return TRAINING_FAILED, f"pod {_name(pod)} exited with code {code}{output}."


def _chief_message(pods: Sequence[Mapping[str, Any]]) -> str:
    """The line the chief wrote on success ("Published: version 3 ...")."""
    for pod in pods:
        terminated = _terminated(pod)
        if terminated is not None and terminated.get("exitCode") == 0 and _is_chief(pod):
            lines = str(terminated.get("message") or "").strip().splitlines()
            if lines:
                return lines[0]
    return ""


def _is_chief(pod: Mapping[str, Any]) -> bool:
    index = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION)
    return index in (None, "0")


def _stuck(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            why = condition.get("message") or condition.get("reason") or "no node fits it"
            return UNSCHEDULABLE, f"cannot be scheduled: {why}"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _STUCK_WAITING:
            why = waiting.get("message") or reason
            return str(reason), f"cannot start its container: {why}"
    return None


def _trainer_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == TRAINER_CONTAINER:
            return container
    return {}


def _terminated(pod: Mapping[str, Any], *, failed: bool = False) -> Mapping[str, Any] | None:
    terminated = (_trainer_status(pod).get("state") or {}).get("terminated")
    if terminated is None and (pod.get("status") or {}).get("phase") == "Failed":
        terminated = {"exitCode": None, "reason": (pod.get("status") or {}).get("reason")}
    if terminated is None or (failed and terminated.get("exitCode") == 0):
        return None
    return terminated


def _deleted(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _created(pod: Mapping[str, Any]) -> str:
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('creationTimestamp') or ''}/{metadata.get('name') or ''}"


def _name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name") or "?")
