"""Reading a training run's result from its Job and pods: the state, and a reason and message
a person (and the status) can use."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modelship.reconcile.training import training_job, training_outcome
from tests.unit.training.builders import trained


class JobBuilder:
    """An observed training Job: `job().failed("BackoffLimitExceeded").obj()`."""

    def __init__(self, workers: int = 1, deadline: str | None = None) -> None:
        md = trained().workers(workers)
        if deadline:
            md = md.deadline(deadline)
        (*_, self._obj) = training_job(md.owner(), md.spec(), 4)
        self._obj["status"] = {"active": 0, "conditions": []}

    def active(self, n: int) -> JobBuilder:
        self._obj["status"]["active"] = n
        return self

    def _condition(self, kind: str, reason: str, message: str = "") -> JobBuilder:
        self._obj["status"]["conditions"].append(
            {"type": kind, "status": "True", "reason": reason, "message": message}
        )
        return self

    def complete(self) -> JobBuilder:
        return self._condition("SuccessCriteriaMet", "CompletionsReached")._condition(
            "Complete", "CompletionsReached"
        )

    def failed(self, reason: str, message: str = "") -> JobBuilder:
        return self._condition("FailureTarget", reason, message)._condition(
            "Failed", reason, message
        )

    def failing(self, reason: str) -> JobBuilder:
        """Decided to fail, pods still terminating."""
        return self._condition("FailureTarget", reason)

    def obj(self) -> dict[str, Any]:
        return copy.deepcopy(self._obj)


def job(workers: int = 1, deadline: str | None = None) -> JobBuilder:
    return JobBuilder(workers, deadline)


def pod(
    name: str,
    *,
    created: str = "2025-05-01T12:00:00Z",
    index: int | None = None,
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    scheduled: dict[str, Any] | None = None,
) -> dict[str, Any]:
    annotations = {} if index is None else {"batch.kubernetes.io/job-completion-index": str(index)}
    status: dict[str, Any] = {"phase": phase, "conditions": []}
    if scheduled is not None:
        status["conditions"].append(scheduled)
    if state is not None:
        status["containerStatuses"] = [{"name": "trainer", "state": state}]
    return {
        "metadata": {"name": name, "creationTimestamp": created, "annotations": annotations},
        "status": status,
    }


def exited(code: int, message: str = "", reason: str = "Error") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason, "message": message}}


RUNNING = {"running": {"startedAt": "2025-05-01T12:00:01Z"}}


def test_a_completed_job_succeeded_with_the_chiefs_line() -> None:
    outcome = training_outcome(
        job().complete().obj(),
        [
            pod(
                "digits-train-4-abc",
                phase="Succeeded",
                state=exited(
                    0, "Published: version 4 (sha256:ab) with accuracy=0.97\n", "Completed"
                ),
            )
        ],
    )
    assert (outcome.state, outcome.reason) == ("Succeeded", "TrainingSucceeded")
    assert outcome.finished
    assert outcome.message == (
        "Job digits-train-4 completed: Published: version 4 (sha256:ab) with accuracy=0.97"
    )


@pytest.mark.parametrize(
    ("termination", "reason", "detail"),
    [
        (
            "EntrypointNotFound: entrypoint digits.train:train: module 'digits' is not "
            "installed in the training image; check spec.training.entrypoint and image.\n",
            "EntrypointNotFound",
            "entrypoint digits.train:train: module 'digits' is not installed",
        ),
        (
            "InvalidModel: digits.train:train returned None; return (model, metrics)\n",
            "InvalidModel",
            "digits.train:train returned None",
        ),
        (
            "TrainingFailed: digits.train:train raised ValueError: no rows\n",
            "TrainingFailed",
            "raised ValueError: no rows",
        ),
    ],
)
def test_a_failed_job_carries_the_trainers_reason(
    termination: str, reason: str, detail: str
) -> None:
    failed = pod("digits-train-4-a", phase="Failed", state=exited(2, termination))
    outcome = training_outcome(
        job().failed("PodFailurePolicy", "Container trainer...").obj(), [failed]
    )
    assert (outcome.state, outcome.reason) == ("Failed", reason)
    assert outcome.message.startswith("Job digits-train-4 failed: ")
    assert detail in outcome.message


def test_the_last_attempt_explains_a_job_out_of_retries() -> None:
    pods = [
        pod("digits-train-4-b", created="2025-05-01T12:05:00Z", phase="Failed",
            state=exited(1, "PublishFailed: publishing version 4 failed: StorageUnavailable\n")),
        pod("digits-train-4-a", created="2025-05-01T12:00:00Z", phase="Failed",
            state=exited(1, "TrainingFailed: first try\n")),
    ]  # fmt: skip
    outcome = training_outcome(job().failed("BackoffLimitExceeded").obj(), pods)
    assert outcome.reason == "PublishFailed"
    assert "after 2 attempt(s)" in outcome.message
    assert "StorageUnavailable" in outcome.message


def test_a_crash_before_the_termination_log_is_read_from_the_output() -> None:
    # FallbackToLogsOnError: the message is the end of the log.
    log = "modelship train: calling digits.train:train\nerror: TrainingFailed: it broke\n"
    outcome = training_outcome(
        job().failed("BackoffLimitExceeded").obj(),
        [pod("p", phase="Failed", state=exited(1, log))],
    )
    assert (outcome.reason, outcome.message) == (
        "TrainingFailed",
        "Job digits-train-4 failed: it broke",
    )
    log = "Segmentation fault in libcuda\ncore dumped\n"
    outcome = training_outcome(
        job().failed("BackoffLimitExceeded").obj(),
        [pod("p", phase="Failed", state=exited(139, log))],
    )
    assert outcome.reason == "TrainingFailed"
    assert "exited with code 139; its last output: core dumped" in outcome.message


def test_out_of_memory_says_so() -> None:
    outcome = training_outcome(
        job().failed("BackoffLimitExceeded").obj(),
        [pod("p", phase="Failed", state=exited(137, "Epoch 1/5\n", reason="OOMKilled"))],
    )
    assert outcome.reason == "OOMKilled"
    assert "spec.training.resources" in outcome.message


def test_a_deadline_names_the_setting() -> None:
    outcome = training_outcome(job(deadline="1h").failed("DeadlineExceeded").obj(), [])
    assert (outcome.state, outcome.reason) == ("Failed", "DeadlineExceeded")
    assert "3600s" in outcome.message and "spec.training.activeDeadline" in outcome.message


def test_a_job_failing_is_already_failed() -> None:
    outcome = training_outcome(job().failing("PodFailurePolicy").obj(), [])
    assert (outcome.state, outcome.reason) == ("Failed", "PodFailurePolicy")


def test_a_deleted_job_counts_as_failed() -> None:
    outcome = training_outcome(None, [])
    assert (outcome.state, outcome.reason) == ("Failed", "TrainingJobNotFound")


def test_running_workers_are_counted() -> None:
    pods = [pod(f"w{i}", index=i, state=RUNNING) for i in range(2)]
    outcome = training_outcome(
        job(workers=3).active(3).obj(), [*pods, pod("w2", index=2, phase="Pending")]
    )
    assert (outcome.state, outcome.reason) == ("Running", "TrainingRunning")
    assert not outcome.finished
    assert "2 of 3 worker(s) running" in outcome.message


def test_a_retry_in_progress_mentions_the_failed_attempt() -> None:
    pods = [
        pod("a", created="2025-05-01T12:00:00Z", phase="Failed",
            state=exited(1, "TrainingFailed: flaky data read\n")),
        pod("b", created="2025-05-01T12:01:00Z", state=RUNNING),
    ]  # fmt: skip
    outcome = training_outcome(job().active(1).obj(), pods)
    assert outcome.state == "Running"
    assert (
        "1 failed attempt(s) so far, the last: TrainingFailed: flaky data read" in outcome.message
    )


@pytest.mark.parametrize(
    ("stuck", "reason", "detail"),
    [
        (
            pod(
                "p",
                phase="Pending",
                scheduled={
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/6 nodes are available: 6 Insufficient nvidia.com/gpu.",
                },
            ),
            "Unschedulable",
            "cannot be scheduled: 0/6 nodes are available: 6 Insufficient nvidia.com/gpu.",
        ),
        (
            pod(
                "p",
                phase="Pending",
                state={
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": 'Back-off pulling image "x:typo"',
                    }
                },
            ),
            "ImagePullBackOff",
            'cannot start its container: Back-off pulling image "x:typo"',
        ),
        (
            pod(
                "p",
                phase="Pending",
                state={
                    "waiting": {
                        "reason": "CreateContainerConfigError",
                        "message": 'secret "s3" not found',
                    }
                },
            ),
            "CreateContainerConfigError",
            'secret "s3" not found',
        ),
    ],
    ids=["unschedulable", "image", "secret"],
)
def test_a_pod_that_cannot_start_is_pending_with_the_cause(
    stuck: dict[str, Any], reason: str, detail: str
) -> None:
    outcome = training_outcome(job().active(1).obj(), [stuck])
    assert (outcome.state, outcome.reason) == ("Pending", reason)
    assert detail in outcome.message


def test_a_job_without_pods_yet_is_pending() -> None:
    outcome = training_outcome(job().obj(), [])
    assert (outcome.state, outcome.reason) == ("Pending", "TrainingPending")
