"""TF_CONFIG as the trainer reads it: which worker this is, whether it publishes, and a
clear refusal of a TF_CONFIG TensorFlow could not use."""

from __future__ import annotations

import json

import pytest

from modelship.api.trainer import PERMANENT_FAILURE_EXIT_CODE
from modelship.reconcile.training import training_job
from modelship.training import TaskInfo, TrainingError, task_from_tf_config
from modelship.training.errors import PERMANENT_EXIT_CODE, RETRYABLE_EXIT_CODE
from tests.unit.reconcile.test_training_job import expand, job_of, trainer
from tests.unit.training.builders import trained

WORKERS = ["w-0.w:2222", "w-1.w:2222", "w-2.w:2222"]


def tf_config(task_type: str, index: int, **cluster: list[str]) -> str:
    return json.dumps(
        {"cluster": cluster or {"worker": WORKERS}, "task": {"type": task_type, "index": index}}
    )


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_no_tf_config_is_a_single_chief(raw: str | None) -> None:
    task = task_from_tf_config(raw)
    assert task == TaskInfo()
    assert (task.num_workers, task.is_chief) == (1, True)


@pytest.mark.parametrize(
    ("raw", "index", "chief", "workers"),
    [
        (tf_config("worker", 0), 0, True, 3),
        (tf_config("worker", 2), 2, False, 3),
        (tf_config("chief", 0, chief=["c:2222"], worker=WORKERS[:2]), 0, True, 3),
        (tf_config("worker", 0, chief=["c:2222"], worker=WORKERS[:2]), 0, False, 3),
    ],
    ids=["worker-0", "worker-2", "chief", "worker-0-beside-a-chief"],
)
def test_the_chief_is_the_chief_task_or_else_worker_0(
    raw: str, index: int, chief: bool, workers: int
) -> None:
    task = task_from_tf_config(raw)
    assert (task.index, task.is_chief, task.num_workers) == (index, chief, workers)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("{not json", "it is not JSON"),
        ("[1, 2]", "it is not a JSON object"),
        (tf_config("worker", 3), "task worker 3 is not in the cluster (3 workers)"),
        (tf_config("master", 0), "task type 'master' is not one of"),
        (json.dumps({"cluster": {"worker": "a:1"}, "task": {}}), "must be a list"),
        (json.dumps({"cluster": {"worker": WORKERS}, "task": {"index": "1"}}), "not a whole"),
    ],
)
def test_an_unusable_tf_config_is_refused_for_good(raw: str, why: str) -> None:
    with pytest.raises(TrainingError) as caught:
        task_from_tf_config(raw)
    assert caught.value.reason == "InvalidTFConfig"
    assert why in caught.value.message
    assert caught.value.permanent


def test_the_jobs_tf_config_reads_back_as_each_workers_task() -> None:
    """The TF_CONFIG the Job builder templates, as the kubelet expands it per pod."""
    job = job_of(training_job(trained().owner(), trained().workers(3).spec(), 7))
    tasks = [task_from_tf_config(expand(trainer(job)["env"], i)["TF_CONFIG"]) for i in range(3)]
    assert [t.index for t in tasks] == [0, 1, 2]
    assert [t.is_chief for t in tasks] == [True, False, False]
    assert {t.num_workers for t in tasks} == {3}


def test_exit_codes_match_the_jobs_failure_policy() -> None:
    assert PERMANENT_EXIT_CODE == PERMANENT_FAILURE_EXIT_CODE != RETRYABLE_EXIT_CODE
    assert TrainingError("InvalidModel", "x", permanent=True).exit_code == PERMANENT_EXIT_CODE
    assert TrainingError("TrainingFailed", "x").exit_code == RETRYABLE_EXIT_CODE


def test_without_capture_the_context_has_no_captured_records() -> None:
    from pathlib import Path

    from modelship.training.context import TaskInfo, TrainingContext

    ctx = TrainingContext(
        strategy=None, version=1, output="s3://m/x", data=None, scratch_dir=Path("/tmp"),
        task=TaskInfo(),
    )  # fmt: skip
    assert ctx.captures is None
    assert list(ctx.captured_records()) == []
