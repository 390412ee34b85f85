"""The status tells the truth: what serves, what is rolling out, what needs a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from modelship.api import SpecError, to_resource_dict
from modelship.api.status import ModelDeploymentStatus
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.desired import ServingObservation, plan_serving
from modelship.reconcile.health import assess_serving
from modelship.reconcile.status import (
    OWNED_FIELDS,
    compute_status,
    status_changed,
    status_patch,
    transition_events,
)
from tests.unit.reconcile.builders import (
    NOW,
    ModelDeploymentBuilder,
    deployment,
    digest_of,
    model_deployment,
    pod,
    ready_pods,
    version,
)

MD = model_deployment().replicas(2)
V1, V2 = [version(1)], [version(1), version(2)]
CORRUPT_3 = version(3, "corrupt", reason="ChecksumMismatch", message="version 3: x was replaced.")
SERVING_1 = {"currentVersion": 1, "currentDigest": digest_of(1), "targetVersion": 1}


def observe(
    md: ModelDeploymentBuilder = MD,
    artifacts: list[VersionInfo] | ArtifactError = V1,
    dep: dict[str, Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
    previous: dict[str, Any] | None = None,
    *,
    spec_error: SpecError | None = None,
) -> dict[str, Any]:
    observed = ServingObservation(
        spec=spec_error or md.spec(),
        generation=3,
        artifacts=artifacts,
        deployment=dep,
        pods=pods or [],
        status=previous or {},
    )
    return plan_serving(md.owner(), observed, NOW).status


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    (found,) = [c for c in status["conditions"] if c["type"] == type_]
    return found


@dataclass
class Expect:
    phase: str
    ready: str  # "True" or the reason of Ready=False
    reconciling: bool
    stalled: str | None  # the Stalled reason, None when Stalled is False
    artifact: str  # "Verified" or the ArtifactReady reason
    current: int | None
    target: int | None
    words: list[str] = field(default_factory=list)  # in the Ready message


CASES = [
    pytest.param(
        observe(pods=[]),
        Expect(
            "Deploying",
            "RollingOut",
            True,
            None,
            "Verified",
            None,
            1,
            ["deploying version 1: 0 of 2 replicas ready"],
        ),
        id="first-deploy-no-deployment-yet",
    ),
    pytest.param(
        observe(
            dep=deployment(MD, 1).obj(),
            pods=[*ready_pods(1, 1), pod("x").version(1).starting().obj()],
        ),
        Expect(
            "Deploying",
            "WaitingForReplicas",
            True,
            None,
            "Verified",
            1,
            1,
            ["1 of 2 replicas of version 1 are ready"],
        ),
        id="first-deploy-one-ready",
    ),
    pytest.param(
        observe(dep=deployment(MD, 1).obj(), pods=ready_pods(1, 2)),
        Expect(
            "Ready",
            "True",
            False,
            None,
            "Verified",
            1,
            1,
            [
                "version 1 serves with 2 of 2 replicas ready at "
                "http://digits.ml.svc.cluster.local:8501/v1/models/digits"
            ],
        ),
        id="ready",
    ),
    pytest.param(
        observe(
            dep=deployment(MD, 1).obj(),
            pods=[*ready_pods(1, 1), pod("c").version(1).crash_looping().obj()],
        ),
        Expect(
            "Degraded",
            "CrashLoopBackOff",
            False,
            "CrashLoopBackOff",
            "Verified",
            1,
            1,
            ["container server of pod c (version 1) keeps crashing"],
        ),
        id="crash-looping-pod",
    ),
    pytest.param(
        observe(
            dep=deployment(MD, 1).obj(),
            pods=[pod(f"c{i}").version(1).crash_looping().obj() for i in range(2)],
        ),
        Expect(
            "Failed",
            "CrashLoopBackOff",
            False,
            "CrashLoopBackOff",
            "Verified",
            None,
            1,
            ["keeps crashing"],
        ),
        id="all-crash-looping",
    ),
    pytest.param(
        observe(
            artifacts=V2, dep=deployment(MD, 1).obj(), pods=ready_pods(1, 2), previous=SERVING_1
        ),
        Expect(
            "Deploying",
            "RollingOut",
            True,
            None,
            "Verified",
            1,
            2,
            ["rolling out version 2: 0 of 2 replicas ready; version 1 keeps serving"],
        ),
        id="new-version-found",
    ),
    pytest.param(
        observe(
            artifacts=V2,
            dep=deployment(MD, 2).obj(),
            pods=[*ready_pods(1, 2), *ready_pods(2, 1)],
            previous=SERVING_1,
        ),
        Expect(
            "Deploying",
            "RollingOut",
            True,
            None,
            "Verified",
            1,
            2,
            ["rolling out version 2: 1 of 2 replicas ready; version 1 keeps serving"],
        ),
        id="rollout-halfway-old-still-current",
    ),
    pytest.param(
        observe(
            artifacts=V2, dep=deployment(MD, 2).obj(), pods=ready_pods(2, 2), previous=SERVING_1
        ),
        Expect("Ready", "True", False, None, "Verified", 2, 2, ["version 2 serves"]),
        id="rollout-done",
    ),
    pytest.param(
        observe(
            artifacts=V2,
            dep=deployment(MD, 2).obj(),
            pods=[*ready_pods(1, 2), pod("n").version(2).crash_looping(exit_code=2).obj()],
            previous=SERVING_1,
        ),
        Expect(
            "Degraded",
            "CrashLoopBackOff",
            False,
            "CrashLoopBackOff",
            "Verified",
            1,
            2,
            ["pod n (version 2) keeps crashing", "last exit code 2"],
        ),
        id="new-version-crashes-old-keeps-serving",
    ),
    pytest.param(
        observe(
            artifacts=V2,
            dep=deployment(MD, 2).obj(),
            pods=[*ready_pods(1, 2), pod("n").version(2).unschedulable().obj()],
            previous=SERVING_1,
        ),
        Expect(
            "Deploying",
            "Unschedulable",
            True,
            None,
            "Verified",
            1,
            2,
            [
                "pod n (version 2) cannot be scheduled: 0/6 nodes are available: "
                "6 Insufficient nvidia.com/gpu"
            ],
        ),
        id="new-version-waits-for-gpu",
    ),
    pytest.param(
        observe(
            artifacts=V2,
            dep=deployment(MD, 2).obj(),
            pods=[
                *ready_pods(1, 2),
                pod("n").version(2).unschedulable(since=timedelta(hours=1)).obj(),
            ],
            previous=SERVING_1,
        ),
        Expect(
            "Degraded",
            "Unschedulable",
            False,
            "Unschedulable",
            "Verified",
            1,
            2,
            ["6 Insufficient nvidia.com/gpu", "progress deadline"],
        ),
        id="unschedulable-past-deadline",
    ),
    pytest.param(
        observe(
            dep=deployment(MD, 1).obj(),
            pods=[pod("p").version(1).unschedulable(since=timedelta(hours=1)).obj()],
        ),
        Expect(
            "Failed",
            "Unschedulable",
            False,
            "Unschedulable",
            "Verified",
            None,
            1,
            ["0/6 nodes are available"],
        ),
        id="first-version-never-scheduled",
    ),
    pytest.param(
        observe(
            artifacts=[version(1), version(2), CORRUPT_3],
            dep=deployment(MD, 2).obj(),
            pods=ready_pods(2, 2),
            previous={**SERVING_1, "currentVersion": 2},
        ),
        Expect("Degraded", "True", False, None, "ChecksumMismatch", 2, 2, ["version 2 serves"]),
        id="corrupt-newest-good-one-serves",
    ),
    pytest.param(
        observe(
            md=model_deployment().replicas(2).pinned(7),
            artifacts=V2,
            dep=deployment(MD, 1).obj(),
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        Expect(
            "Degraded",
            "VersionNotFound",
            False,
            "VersionNotFound",
            "VersionNotFound",
            1,
            7,
            [
                "version 7 of s3://models/digits does not exist; versions found: 1, 2",
                "Version 1 keeps serving",
            ],
        ),
        id="pinned-missing-old-serves",
    ),
    pytest.param(
        observe(md=model_deployment().pinned(7), artifacts=V2),
        Expect(
            "Failed",
            "VersionNotFound",
            False,
            "VersionNotFound",
            "VersionNotFound",
            None,
            7,
            ["does not exist"],
        ),
        id="pinned-missing-nothing-serves",
    ),
    pytest.param(
        observe(md=model_deployment().pinned(3), artifacts=[version(1), CORRUPT_3]),
        Expect(
            "Failed",
            "ChecksumMismatch",
            False,
            "ChecksumMismatch",
            "ChecksumMismatch",
            None,
            3,
            ["x was replaced", "never served"],
        ),
        id="pinned-corrupt",
    ),
    pytest.param(
        observe(md=model_deployment().pinned(2), artifacts=[version(1), version(2, "incomplete")]),
        Expect(
            "Deploying",
            "ManifestMissing",
            True,
            None,
            "ManifestMissing",
            None,
            2,
            ["version 2 of s3://models/digits has no manifest"],
        ),
        id="pinned-still-uploading",
    ),
    pytest.param(
        observe(artifacts=[]),
        Expect(
            "Pending",
            "NoVersions",
            True,
            None,
            "NoVersions",
            None,
            None,
            ["no complete version under s3://models/digits yet"],
        ),
        id="no-versions",
    ),
    pytest.param(
        observe(artifacts=ArtifactError("SecretNotFound", "Secret ml/s3-creds does not exist.")),
        Expect(
            "Failed",
            "SecretNotFound",
            False,
            "SecretNotFound",
            "SecretNotFound",
            None,
            None,
            ["Secret ml/s3-creds does not exist"],
        ),
        id="missing-secret",
    ),
    pytest.param(
        observe(
            artifacts=ArtifactError("AccessDenied", "the store refused the credentials."),
            dep=deployment(MD, 1).obj(),
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        Expect(
            "Degraded",
            "AccessDenied",
            False,
            "AccessDenied",
            "AccessDenied",
            1,
            1,
            ["refused the credentials"],
        ),
        id="access-denied-while-serving",
    ),
    pytest.param(
        observe(
            artifacts=ArtifactError("StorageUnavailable", "could not reach minio:9000."),
            dep=deployment(MD, 1).obj(),
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        Expect("Ready", "True", False, None, "StorageUnavailable", 1, 1, ["version 1 serves"]),
        id="store-blip-does-not-flip-ready",
    ),
    pytest.param(
        observe(artifacts=ArtifactError("StorageUnavailable", "could not reach minio:9000.")),
        Expect(
            "Pending",
            "StorageUnavailable",
            True,
            None,
            "StorageUnavailable",
            None,
            None,
            ["could not reach minio"],
        ),
        id="store-down-from-the-start",
    ),
    pytest.param(
        observe(
            spec_error=SpecError("spec.serving.gpu.count", "OutOfRange", "must be 0 or more."),
            dep=deployment(MD, 1).obj(),
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        Expect(
            "Degraded",
            "OutOfRange",
            False,
            "OutOfRange",
            "OutOfRange",
            1,
            1,
            ["spec.serving.gpu.count: must be 0 or more."],
        ),
        id="bad-spec-old-keeps-serving",
    ),
    pytest.param(
        observe(
            dep=deployment(MD, 1).obj(),
            pods=[pod("p").version(1).init_failed("ChecksumMismatch: bad bytes.").obj()],
        ),
        Expect(
            "Failed",
            "ChecksumMismatch",
            False,
            "ChecksumMismatch",
            "Verified",
            None,
            1,
            ["init container pull of pod p (version 1) failed: ChecksumMismatch: bad bytes."],
        ),
        id="pull-finds-corruption-the-listing-missed",
    ),
    pytest.param(
        observe(
            md=model_deployment().replicas(3),
            dep=deployment(MD, 1).obj(),
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        Expect(
            "Deploying",
            "WaitingForReplicas",
            True,
            None,
            "Verified",
            1,
            1,
            ["2 of 3 replicas of version 1 are ready"],
        ),
        id="scaling-up",
    ),
    pytest.param(
        observe(
            md=model_deployment().replicas(0),
            dep=deployment(model_deployment().replicas(0), 1).obj(),
            previous=SERVING_1,
        ),
        Expect("Ready", "True", False, None, "Verified", 1, 1, ["scaled to 0 replicas"]),
        id="scaled-to-zero",
    ),
]


@pytest.mark.parametrize(("status", "expect"), CASES)
def test_status_tells_the_truth(status: dict[str, Any], expect: Expect) -> None:
    ready = condition(status, "Ready")
    assert status["phase"] == expect.phase
    assert (ready["status"] if ready["status"] == "True" else ready["reason"]) == expect.ready
    assert condition(status, "Reconciling")["status"] == str(expect.reconciling)
    stalled = condition(status, "Stalled")
    assert (stalled["reason"] if stalled["status"] == "True" else None) == expect.stalled
    artifact = condition(status, "ArtifactReady")
    assert artifact["reason"] == expect.artifact
    assert (artifact["status"] == "True") is (expect.artifact == "Verified")
    assert status.get("currentVersion") == expect.current
    assert status.get("targetVersion") == expect.target
    for words in expect.words:
        assert words in ready["message"]
    # kstatus: at most one of Ready, Reconciling, Stalled holds.
    trues = [c["type"] for c in status["conditions"] if c["status"] == "True"]
    assert len(set(trues) & {"Ready", "Reconciling", "Stalled"}) == 1
    if stalled["status"] == "True":
        assert stalled["message"] == ready["message"]


@pytest.mark.parametrize(("status", "expect"), CASES)
def test_status_fits_the_crd_schema(status: dict[str, Any], expect: Expect) -> None:
    allowed = set(to_resource_dict(ModelDeploymentStatus(observed_generation=1, phase=None)))
    allowed |= set(OWNED_FIELDS)
    assert set(status) <= allowed
    assert set(OWNED_FIELDS) - {"training"} >= set(status)
    for c in status["conditions"]:
        assert set(c) == {
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "observedGeneration",
        }
        assert c["observedGeneration"] == 3
        assert c["reason"].isalnum() and c["reason"][0].isupper()
        assert c["message"]
    assert status["observedGeneration"] == 3
    assert status["selector"] == (
        "app.kubernetes.io/component=serving,app.kubernetes.io/instance=digits,"
        "app.kubernetes.io/name=modelship"
    )


def test_ready_only_with_all_replicas_on_the_target_version() -> None:
    dep = deployment(MD, 2).obj()
    for pods in (ready_pods(2, 1), [*ready_pods(2, 2), *ready_pods(1, 1)], ready_pods(1, 2)):
        status = observe(artifacts=V2, dep=dep, pods=pods, previous=SERVING_1)
        assert condition(status, "Ready")["status"] == "False"
    assert (
        condition(observe(artifacts=V2, dep=dep, pods=ready_pods(2, 2)), "Ready")["status"]
        == "True"
    )


def test_current_digest_is_the_serving_version_s() -> None:
    status = observe(
        artifacts=V2,
        dep=deployment(MD, 2).obj(),
        pods=[*ready_pods(1, 2), *ready_pods(2, 1)],
        previous=SERVING_1,
    )
    assert (status["currentVersion"], status["currentDigest"]) == (1, digest_of(1))
    assert status["versions"][-1]["number"] == 2


def test_same_input_same_status() -> None:
    args: dict[str, Any] = {
        "artifacts": V2,
        "dep": deployment(MD, 2).obj(),
        "pods": ready_pods(1, 2),
    }
    assert observe(**args, previous=SERVING_1) == observe(**args, previous=SERVING_1)


def test_reconciling_again_changes_nothing() -> None:
    args: dict[str, Any] = {
        "artifacts": V2,
        "dep": deployment(MD, 2).obj(),
        "pods": ready_pods(2, 2),
    }
    first = observe(**args)
    again = observe(**args, previous=first)
    assert again == first
    assert not status_changed(first, again)
    assert status_patch(first, again) == {}
    assert transition_events(first, again) == []


def test_last_transition_time_kept_until_the_status_flips() -> None:
    md, dep = MD, deployment(MD, 1).obj()
    owner, spec = md.owner(), md.spec()

    def at(minutes: int, pods: list[dict[str, Any]], previous: dict[str, Any]) -> dict[str, Any]:
        now = NOW + timedelta(minutes=minutes)
        health = assess_serving(dep, pods, 1, now)
        return compute_status(owner, spec, 3, V1, health, previous, now)

    starting = at(0, [pod("a").version(1).starting().obj()], {})
    still = at(1, [*ready_pods(1, 1), pod("b").version(1).starting().obj()], starting)
    done = at(2, ready_pods(1, 2), still)
    stamp = {
        s: condition(x, "Ready")["lastTransitionTime"]
        for s, x in (("0", starting), ("1", still), ("2", done))
    }
    assert stamp == {
        "0": "2025-05-01T12:00:00Z",
        "1": "2025-05-01T12:00:00Z",
        "2": "2025-05-01T12:02:00Z",
    }
    # The message changed (1 of 2 ready) but Reconciling stayed True: its time is kept.
    assert (
        condition(still, "Reconciling")["message"] != condition(starting, "Reconciling")["message"]
    )
    assert condition(still, "Reconciling")["lastTransitionTime"] == "2025-05-01T12:00:00Z"
    assert condition(done, "Stalled")["lastTransitionTime"] == "2025-05-01T12:00:00Z"


def test_status_patch_deletes_dropped_fields_and_leaves_others_alone() -> None:
    old = {**SERVING_1, "phase": "Ready", "training": {"jobName": "digits-train-2"}}
    new = {"phase": "Failed", "targetVersion": 1}
    assert status_patch(old, new) == {
        "phase": "Failed",
        "currentVersion": None,
        "currentDigest": None,
    }
    assert status_changed(old, new)


def test_events_for_a_rollout_and_its_failure() -> None:
    serving = observe(dep=deployment(MD, 1).obj(), pods=ready_pods(1, 2))
    rolling = observe(
        artifacts=V2, dep=deployment(MD, 1).obj(), pods=ready_pods(1, 2), previous=serving
    )
    crashing = observe(
        artifacts=V2,
        dep=deployment(MD, 2).obj(),
        pods=[*ready_pods(1, 2), pod("n").version(2).crash_looping().obj()],
        previous=rolling,
    )
    fixed = observe(
        artifacts=V2, dep=deployment(MD, 2).obj(), pods=ready_pods(2, 2), previous=crashing
    )

    assert transition_events({}, serving) == [
        ("Normal", "Serving", f"version 1 ({digest_of(1)}) now serves traffic.")
    ]
    assert transition_events(serving, rolling) == [
        (
            "Normal",
            "RollingOut",
            "rolling out version 2; version 1 keeps serving until it is ready.",
        )
    ]
    [(kind, reason, message)] = transition_events(rolling, crashing)
    assert (kind, reason) == ("Warning", "CrashLoopBackOff")
    assert "pod n (version 2) keeps crashing" in message
    assert transition_events(crashing, crashing) == []
    assert transition_events(crashing, fixed) == [
        (
            "Normal",
            "RolledOut",
            f"version 2 ({digest_of(2)}) now serves traffic, replacing version 1.",
        )
    ]


def test_a_warning_for_each_new_problem_reason() -> None:
    broken = observe(md=model_deployment().pinned(7), artifacts=V2)
    events = transition_events({}, broken)
    assert [(e.type, e.reason) for e in events] == [("Warning", "VersionNotFound")]
    assert "version 7 of s3://models/digits does not exist" in events[0].message


def test_training_shows_while_nothing_serves() -> None:
    md = MD
    health = assess_serving(None, [], None, NOW)
    status = compute_status(md.owner(), md.spec(), 1, [], health, {}, NOW, training=True)
    assert status["phase"] == "Training"
