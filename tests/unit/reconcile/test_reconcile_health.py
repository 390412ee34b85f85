"""Serving health read from the pods: counts per version and named problems."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelship.reconcile.health import assess_serving
from tests.unit.reconcile.builders import (
    NOW,
    PodBuilder,
    deployment,
    digest_of,
    model_deployment,
    pod,
    ready_pods,
)

MD = model_deployment().replicas(2)


def test_counts_per_version_and_what_serves() -> None:
    pods = [
        *ready_pods(1, 2),
        pod("digits-serving-new-0").version(2).obj(),
        pod("digits-serving-new-1").version(2).starting().obj(),
        pod("digits-serving-old-9").version(1).terminating().obj(),
    ]
    health = assess_serving(deployment(MD, 2).obj(), pods, 2, NOW)
    assert health.replicas == 4
    assert health.ready_replicas == 3
    assert health.pods_by_version == {1: 2, 2: 2}
    assert health.ready_by_version == {1: 2, 2: 1}
    assert health.serving_versions == (1, 2)
    assert health.digests == {1: digest_of(1), 2: digest_of(2)}
    assert health.template_version == 2
    assert health.template_digest == digest_of(2)
    assert health.wanted_replicas == 2
    assert not health.rolled_out
    assert health.problems == ()  # still starting is not a problem


@pytest.mark.parametrize(
    ("dep", "pods", "rolled_out"),
    [
        pytest.param(deployment(MD, 2).obj(), ready_pods(2, 2), True, id="all-ready"),
        pytest.param(deployment(MD, 2).obj(), ready_pods(2, 1), False, id="one-short"),
        pytest.param(
            deployment(MD, 2).obj(),
            [*ready_pods(2, 2), *ready_pods(1, 1)],
            False,
            id="old-pod-left",
        ),
        pytest.param(deployment(MD, 1).obj(), ready_pods(2, 2), False, id="template-other-version"),
        pytest.param(
            deployment(MD, 2).not_yet_observed().obj(),
            ready_pods(2, 2),
            False,
            id="deployment-not-observed",
        ),
        pytest.param(
            deployment(MD, 2).just_created().obj(),
            ready_pods(2, 2),
            True,
            id="new-deployment-never-changed",  # no other template its pods could be of
        ),
        pytest.param(
            deployment(MD, 2).just_created().not_yet_observed().obj(),
            ready_pods(2, 2),
            False,
            id="changed-deployment-not-observed-yet",
        ),
        pytest.param(None, ready_pods(2, 2), False, id="no-deployment"),
    ],
)
def test_rolled_out(
    dep: dict[str, Any] | None, pods: list[dict[str, Any]], rolled_out: bool
) -> None:
    assert assess_serving(dep, pods, 2, NOW).rolled_out is rolled_out


@pytest.mark.parametrize(
    ("builder", "reason", "needs_person", "words"),
    [
        pytest.param(
            pod("p").version(2).unschedulable(),
            "Unschedulable",
            False,
            [
                "pod p (version 2) cannot be scheduled: "
                "0/6 nodes are available: 6 Insufficient nvidia.com/gpu",
                "waiting for capacity",
            ],
            id="unschedulable-waiting",
        ),
        pytest.param(
            pod("p").version(2).unschedulable(since=timedelta(minutes=11)),
            "Unschedulable",
            True,
            ["6 Insufficient nvidia.com/gpu", "longer than the progress deadline (600s)"],
            id="unschedulable-past-deadline",
        ),
        pytest.param(
            pod("p").version(2).crash_looping(exit_code=3, restarts=5),
            "CrashLoopBackOff",
            True,
            [
                "container server of pod p (version 2) keeps crashing",
                "restarted 5 times",
                "last exit code 3 (Error)",
                "kubectl logs -n ml p -c server --previous",
            ],
            id="crash-loop",
        ),
        pytest.param(
            pod("p").version(2).crash_looping(message="InvalidModel: no saved_model.pb in /m"),
            "CrashLoopBackOff",
            True,
            ["last message: InvalidModel: no saved_model.pb in /m"],
            id="crash-loop-with-message",
        ),
        pytest.param(
            pod("p").version(2).oom_killed().memory_limit("2Gi"),
            "OOMKilled",
            True,
            [
                "container server of pod p (version 2)",
                "more memory than its limit (2Gi)",
                "spec.serving.resources.limits.memory",
            ],
            id="oom-killed",
        ),
        pytest.param(
            pod("p").version(2).image_pull_back_off("ghcr.io/x/server:typo"),
            "ImagePullBackOff",
            True,
            ["pod p (version 2) cannot pull image ghcr.io/x/server:typo"],
            id="image-pull-back-off",
        ),
        pytest.param(
            pod("p").version(2).err_image_pull(),
            "ErrImagePull",
            False,
            ["cannot pull image"],
            id="err-image-pull-first-try",
        ),
        pytest.param(
            pod("p")
            .version(2)
            .init_failed("ChecksumMismatch: saved_model.pb has sha256 ab, not cd."),
            "ChecksumMismatch",
            True,
            [
                "init container pull of pod p (version 2) failed: ChecksumMismatch: "
                "saved_model.pb has sha256 ab, not cd."
            ],
            id="pull-checksum",
        ),
        pytest.param(
            pod("p")
            .version(2)
            .init_failed("error: AccessDenied: the store refused.", backing_off=False),
            "AccessDenied",
            True,
            ["AccessDenied: the store refused."],
            id="pull-access-denied",
        ),
        pytest.param(
            pod("p").version(2).init_failed("StorageUnavailable: could not reach minio."),
            "StorageUnavailable",
            False,
            ["could not reach minio"],
            id="pull-store-down",
        ),
        pytest.param(
            pod("p")
            .version(2)
            .init_failed("Traceback (most recent call last):\n  ...\nKeyError: 'x'"),
            "InitContainerFailed",
            True,
            [
                "init container pull of pod p (version 2) failed with exit code 1: KeyError: 'x'",
                "kubectl logs -n ml p -c pull",
            ],
            id="pull-crash-without-reason",
        ),
        pytest.param(
            pod("p").version(2).config_error(),
            "CreateContainerConfigError",
            True,
            ['init container pull of pod p (version 2) cannot start: secret "s3-creds" not found'],
            id="missing-secret-in-pod",
        ),
    ],
)
def test_pod_problems(
    builder: PodBuilder, reason: str, needs_person: bool, words: list[str]
) -> None:
    health = assess_serving(deployment(MD, 2).obj(), [builder.obj()], 2, NOW)
    (problem,) = health.problems
    assert problem.reason == reason
    assert problem.needs_person is needs_person
    for phrase in words:
        assert phrase in problem.message
    assert health.ready_replicas == 0


@pytest.mark.parametrize(
    "builder",
    [
        pod("p").version(2).starting(),
        pod("p").version(2).pulling(),
        pod("p").version(2),
        pod("p").version(2).init_failed("ChecksumMismatch: x").terminating(),
    ],
)
def test_no_problem_while_starting_or_leaving(builder: PodBuilder) -> None:
    assert assess_serving(deployment(MD, 2).obj(), [builder.obj()], 2, NOW).problems == ()


def test_the_deployment_deadline_makes_unschedulable_need_a_person() -> None:
    dep = deployment(MD, 2).progress_deadline_exceeded().obj()
    health = assess_serving(dep, [pod("p").version(2).unschedulable().obj()], 2, NOW)
    assert [(p.reason, p.needs_person) for p in health.problems] == [("Unschedulable", True)]


def test_progress_deadline_without_a_pod_problem() -> None:
    dep = deployment(MD, 2).progress_deadline_exceeded().obj()
    health = assess_serving(dep, [pod("p").version(2).starting().obj()], 2, NOW)
    (problem,) = health.problems
    assert problem.reason == "ProgressDeadlineExceeded"
    assert "version 2 made no progress within its deadline of 600s" in problem.message
    assert 'ReplicaSet "digits-serving-7d9f" has timed out progressing.' in problem.message


def test_a_stale_deadline_condition_is_ignored() -> None:
    # The Deployment was just given a new template: its old conditions say nothing about it.
    dep = deployment(MD, 2).progress_deadline_exceeded().not_yet_observed().obj()
    assert assess_serving(dep, [], 2, NOW).problems == ()


def test_pods_refused_at_admission() -> None:
    message = 'pods "digits-serving-x" is forbidden: exceeded quota: gpus, requested: 1'
    dep = deployment(MD, 2).replica_failure(message).obj()
    (problem,) = assess_serving(dep, [], 2, NOW).problems
    assert problem.reason == "FailedCreate"
    assert problem.message == f"pods of version 2 cannot be created: {message}"


def test_target_version_problems_come_first() -> None:
    pods = [
        pod("a-old").version(1).crash_looping().obj(),
        pod("b-new").version(2).unschedulable().obj(),
    ]
    health = assess_serving(deployment(MD, 2).obj(), pods, 2, NOW)
    assert [p.reason for p in health.problems] == ["Unschedulable", "CrashLoopBackOff"]


def test_same_input_same_output() -> None:
    pods = [pod("p").version(2).crash_looping().obj(), *ready_pods(1, 2)]
    dep = deployment(MD, 2).obj()
    assert assess_serving(dep, pods, 2, NOW) == assess_serving(dep, list(reversed(pods)), 2, NOW)
