"""The status tells the truth: what serves, what is rolling out, what needs a person."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from modelship.api import ModelDeploymentSpec, SpecError
from modelship.api.schema import resource_schema
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.desired import ServingObservation, plan_serving
from modelship.reconcile.findings import Finding
from modelship.reconcile.health import assess_serving
from modelship.reconcile.status import (
    OWNED_FIELDS,
    compute_status,
    only_progress,
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
from tests.unit.training.builders import trained

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
    spec: ModelDeploymentSpec | None = None,
    training: bool = False,
    training_failure: Finding | None = None,
) -> dict[str, Any]:
    observed = ServingObservation(
        spec=spec_error or spec or md.spec(),
        generation=3,
        artifacts=artifacts,
        deployment=dep,
        pods=pods or [],
        status=previous or {},
        training=training,
        training_failure=training_failure,
    )
    return plan_serving(md.owner(), observed, NOW).status


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    (found,) = [c for c in status["conditions"] if c["type"] == type_]
    return found


def summary(status: dict[str, Any]) -> str:
    """The status in one line: phase, Ready (True or its reason), Stalled (its reason or -),
    ArtifactReady (its reason), currentVersion and targetVersion (- when absent)."""
    ready, stalled = condition(status, "Ready"), condition(status, "Stalled")
    return " ".join(
        [
            status["phase"],
            f"ready={'True' if ready['status'] == 'True' else ready['reason']}",
            f"stalled={stalled['reason'] if stalled['status'] == 'True' else '-'}",
            f"artifact={condition(status, 'ArtifactReady')['reason']}",
            f"current={status.get('currentVersion', '-')}",
            f"target={status.get('targetVersion', '-')}",
        ]
    )


D1, D2 = deployment(MD, 1).obj(), deployment(MD, 2).obj()
LONG_AGO = timedelta(hours=1)
UNAVAILABLE = ArtifactError("StorageUnavailable", "could not reach minio:9000.")


def gated(**gate: object) -> ModelDeploymentBuilder:
    md = model_deployment().replicas(2)
    md._set("training", "entrypoint", "pkg.mod:train")
    md._set("training", "gate", {"metric": "accuracy", **gate})
    return md


# (observed status, its summary, words in the Ready message)
CASES = [
    pytest.param(
        # TF Serving's layout allows a version 0: it is a version like any other.
        observe(artifacts=[version(0)], dep=deployment(MD, 0).obj(), pods=ready_pods(0, 2)),
        "Ready ready=True stalled=- artifact=Verified current=0 target=0",
        "version 0 serves with 2 of 2 replicas ready",
        id="version-zero",
    ),
    pytest.param(
        observe(
            spec_error=SpecError("spec.serving.replicas", "OutOfRange", "must be 0 or more."),
            dep=deployment(MD, 0).obj(),
            pods=ready_pods(0, 2),
            previous={"currentVersion": 0, "currentDigest": digest_of(0), "targetVersion": 0},
        ),
        "Degraded ready=OutOfRange stalled=OutOfRange artifact=OutOfRange current=0 target=0",
        "spec.serving.replicas: must be 0 or more.",
        id="version-zero-keeps-serving-through-a-bad-spec",
    ),
    pytest.param(
        observe(
            md=gated(min=0.9),
            artifacts=[
                version(1, metrics={"accuracy": 0.95}),
                version(2, metrics={"accuracy": 0.5}),
            ],
            dep=D1,
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        "Degraded ready=True stalled=- artifact=Verified current=1 target=1",
        "replicas ready at http://digits.ml.svc.cluster.local:8501/v1/models/digits. Version 2's "
        "accuracy is 0.5, below the gate's minimum 0.9",
        id="gate-holds-a-newer-version-back-while-the-good-one-serves",
    ),
    pytest.param(
        observe(pods=[]),
        "Deploying ready=RollingOut stalled=- artifact=Verified current=- target=1",
        "deploying version 1: 0 of 2 replicas ready",
        id="first-deploy-no-deployment-yet",
    ),
    pytest.param(
        observe(dep=D1, pods=[*ready_pods(1, 1), pod("x").version(1).starting().obj()]),
        "Deploying ready=WaitingForReplicas stalled=- artifact=Verified current=1 target=1",
        "1 of 2 replicas of version 1 are ready",
        id="first-deploy-one-ready",
    ),
    pytest.param(
        observe(dep=D1, pods=ready_pods(1, 2)),
        "Ready ready=True stalled=- artifact=Verified current=1 target=1",
        "version 1 serves with 2 of 2 replicas ready at "
        "http://digits.ml.svc.cluster.local:8501/v1/models/digits",
        id="ready",
    ),
    pytest.param(
        observe(dep=D1, pods=[*ready_pods(1, 1), pod("c").version(1).crash_looping().obj()]),
        "Degraded ready=CrashLoopBackOff stalled=CrashLoopBackOff artifact=Verified current=1 "
        "target=1",
        "container server of pod c (version 1) keeps crashing",
        id="crash-looping-pod",
    ),
    pytest.param(
        observe(dep=D1, pods=[pod(f"c{i}").version(1).crash_looping().obj() for i in range(2)]),
        "Failed ready=CrashLoopBackOff stalled=CrashLoopBackOff artifact=Verified current=- "
        "target=1",
        "keeps crashing",
        id="all-crash-looping",
    ),
    pytest.param(
        observe(artifacts=V2, dep=D1, pods=ready_pods(1, 2), previous=SERVING_1),
        "Deploying ready=RollingOut stalled=- artifact=Verified current=1 target=2",
        "rolling out version 2: 0 of 2 replicas ready; version 1 keeps serving",
        id="new-version-found",
    ),
    pytest.param(
        observe(
            artifacts=V2, dep=D2, pods=[*ready_pods(1, 2), *ready_pods(2, 1)], previous=SERVING_1
        ),
        "Deploying ready=RollingOut stalled=- artifact=Verified current=1 target=2",
        "rolling out version 2: 1 of 2 replicas ready; version 1 keeps serving",
        id="rollout-halfway-old-still-current",
    ),
    pytest.param(
        observe(artifacts=V2, dep=D2, pods=ready_pods(2, 2), previous=SERVING_1),
        "Ready ready=True stalled=- artifact=Verified current=2 target=2",
        "version 2 serves",
        id="rollout-done",
    ),
    pytest.param(
        observe(
            artifacts=V2,
            dep=D2,
            pods=[*ready_pods(1, 2), pod("n").version(2).crash_looping(exit_code=2).obj()],
            previous=SERVING_1,
        ),
        "Degraded ready=CrashLoopBackOff stalled=CrashLoopBackOff artifact=Verified current=1 "
        "target=2",
        "pod n (version 2) keeps crashing: restarted 4 times, last exit code 2 (Error); see "
        "`kubectl logs -n ml n -c server --previous`. Version 1 keeps serving.",
        id="new-version-crashes-old-keeps-serving",
    ),
    pytest.param(
        observe(
            artifacts=V2,
            dep=D2,
            pods=[*ready_pods(1, 2), pod("n").version(2).unschedulable().obj()],
            previous=SERVING_1,
        ),
        "Deploying ready=Unschedulable stalled=- artifact=Verified current=1 target=2",
        "pod n (version 2) cannot be scheduled: 0/6 nodes are available: "
        "6 Insufficient nvidia.com/gpu",
        id="new-version-waits-for-gpu",
    ),
    pytest.param(
        observe(
            artifacts=V2,
            dep=D2,
            pods=[*ready_pods(1, 2), pod("n").version(2).unschedulable(since=LONG_AGO).obj()],
            previous=SERVING_1,
        ),
        "Degraded ready=Unschedulable stalled=Unschedulable artifact=Verified current=1 target=2",
        "6 Insufficient nvidia.com/gpu; it has waited longer than the progress deadline",
        id="unschedulable-past-deadline",
    ),
    pytest.param(
        observe(dep=D1, pods=[pod("p").version(1).unschedulable(since=LONG_AGO).obj()]),
        "Failed ready=Unschedulable stalled=Unschedulable artifact=Verified current=- target=1",
        "0/6 nodes are available",
        id="first-version-never-scheduled",
    ),
    pytest.param(
        observe(
            artifacts=[version(1), version(2), CORRUPT_3],
            dep=D2,
            pods=ready_pods(2, 2),
            previous={**SERVING_1, "currentVersion": 2},
        ),
        "Degraded ready=True stalled=- artifact=ChecksumMismatch current=2 target=2",
        "version 2 serves",
        id="corrupt-newest-good-one-serves",
    ),
    pytest.param(
        observe(
            md=model_deployment().replicas(2).pinned(7),
            artifacts=V2,
            dep=D1,
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        "Degraded ready=VersionNotFound stalled=VersionNotFound artifact=VersionNotFound "
        "current=1 target=7",
        "version 7 of s3://models/digits does not exist; versions found: 1, 2. Fix "
        "spec.model.version or publish version 7. Version 1 keeps serving.",
        id="pinned-missing-old-serves",
    ),
    pytest.param(
        observe(md=model_deployment().pinned(7), artifacts=V2),
        "Failed ready=VersionNotFound stalled=VersionNotFound artifact=VersionNotFound "
        "current=- target=7",
        "does not exist",
        id="pinned-missing-nothing-serves",
    ),
    pytest.param(
        observe(md=model_deployment().pinned(3), artifacts=[version(1), CORRUPT_3]),
        "Failed ready=ChecksumMismatch stalled=ChecksumMismatch artifact=ChecksumMismatch "
        "current=- target=3",
        "s3://models/digits: version 3: x was replaced; a version that fails its check is never "
        "served: publish it again as a new version.",
        id="pinned-corrupt",
    ),
    pytest.param(
        observe(md=model_deployment().pinned(2), artifacts=[version(1), version(2, "incomplete")]),
        "Deploying ready=ManifestMissing stalled=- artifact=ManifestMissing current=- target=2",
        "version 2 of s3://models/digits has no manifest",
        id="pinned-still-uploading",
    ),
    pytest.param(
        observe(artifacts=[]),
        "Failed ready=NoVersions stalled=NoVersions artifact=NoVersions current=- target=-",
        "no complete version under s3://models/digits yet; publish one with `modelship push`",
        id="no-versions-and-nothing-will-make-one",
    ),
    pytest.param(
        observe(artifacts=[version(1, "incomplete")]),
        "Pending ready=NoVersions stalled=- artifact=NoVersions current=- target=-",
        "has no manifest yet: its upload is unfinished",
        id="no-versions-while-the-first-upload-is-on-its-way",
    ),
    pytest.param(
        observe(artifacts=[], spec=trained().spec(), training=True),
        "Training ready=NoVersions stalled=- artifact=NoVersions current=- target=-",
        "no complete version under s3://models/digits yet",
        id="no-versions-while-training-makes-one",
    ),
    pytest.param(
        observe(artifacts=[], spec=trained().spec()),
        "Pending ready=NoVersions stalled=- artifact=NoVersions current=- target=-",
        "no complete version under s3://models/digits yet",
        id="no-versions-before-training-starts",
    ),
    pytest.param(
        observe(
            artifacts=[],
            spec=trained().spec(),
            training_failure=Finding("TrainingFailed", "training run digits-train-1 failed."),
        ),
        "Failed ready=TrainingFailed stalled=TrainingFailed artifact=NoVersions current=- target=-",
        "training run digits-train-1 failed.",
        id="no-versions-and-training-failed",
    ),
    pytest.param(
        observe(artifacts=ArtifactError("SecretNotFound", "Secret ml/s3-creds does not exist.")),
        "Failed ready=SecretNotFound stalled=SecretNotFound artifact=SecretNotFound current=- "
        "target=-",
        "Secret ml/s3-creds does not exist",
        id="missing-secret",
    ),
    pytest.param(
        observe(
            artifacts=ArtifactError("AccessDenied", "the store refused the credentials."),
            dep=D1,
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        "Degraded ready=AccessDenied stalled=AccessDenied artifact=AccessDenied current=1 target=1",
        "refused the credentials",
        id="access-denied-while-serving",
    ),
    pytest.param(
        observe(artifacts=UNAVAILABLE, dep=D1, pods=ready_pods(1, 2), previous=SERVING_1),
        "Ready ready=True stalled=- artifact=StorageUnavailable current=1 target=1",
        "version 1 serves",
        id="store-blip-does-not-flip-ready",
    ),
    pytest.param(
        observe(artifacts=UNAVAILABLE),
        "Pending ready=StorageUnavailable stalled=- artifact=StorageUnavailable current=- target=-",
        "could not reach minio",
        id="store-down-from-the-start",
    ),
    pytest.param(
        observe(
            spec_error=SpecError("spec.serving.gpu.count", "OutOfRange", "must be 0 or more."),
            dep=D1,
            pods=ready_pods(1, 2),
            previous=SERVING_1,
        ),
        "Degraded ready=OutOfRange stalled=OutOfRange artifact=OutOfRange current=1 target=1",
        "spec.serving.gpu.count: must be 0 or more.",
        id="bad-spec-old-keeps-serving",
    ),
    pytest.param(
        observe(dep=D1, pods=[pod("p").version(1).init_failed("ChecksumMismatch: bad.").obj()]),
        "Failed ready=ChecksumMismatch stalled=ChecksumMismatch artifact=Verified current=- "
        "target=1",
        "init container pull of pod p (version 1) failed: ChecksumMismatch: bad.",
        id="pull-finds-corruption-the-listing-missed",
    ),
    pytest.param(
        observe(
            md=model_deployment().replicas(3), dep=D1, pods=ready_pods(1, 2), previous=SERVING_1
        ),
        "Deploying ready=WaitingForReplicas stalled=- artifact=Verified current=1 target=1",
        "2 of 3 replicas of version 1 are ready",
        id="scaling-up",
    ),
    pytest.param(
        observe(
            md=model_deployment().replicas(0),
            dep=deployment(model_deployment().replicas(0), 1).obj(),
            previous=SERVING_1,
        ),
        "Ready ready=True stalled=- artifact=Verified current=1 target=1",
        "version 1 is scaled to 0 replicas",
        id="scaled-to-zero",
    ),
]


@pytest.mark.parametrize(("status", "expected", "words"), CASES)
def test_status_tells_the_truth(status: dict[str, Any], expected: str, words: str) -> None:
    assert summary(status) == expected
    ready, stalled = condition(status, "Ready"), condition(status, "Stalled")
    assert words in ready["message"]
    # kstatus: exactly one of Ready, Reconciling, Stalled holds; a Stalled reason is the
    # reason Ready gives too.
    trues = {c["type"] for c in status["conditions"] if c["status"] == "True"}
    assert len(trues & {"Ready", "Reconciling", "Stalled"}) == 1
    if stalled["status"] == "True":
        assert (stalled["reason"], stalled["message"]) == (ready["reason"], ready["message"])


def schema_violations(value: Any, schema: dict[str, Any], path: str = "status") -> list[str]:
    """What the API server would refuse or prune: the structural-schema keywords the CRD uses."""
    types: dict[str, type | tuple[type, ...]] = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
    }
    expected = schema.get("type")
    if expected and not isinstance(value, types[expected]):
        return [f"{path}: not a {expected}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in the enum")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: below {schema['minimum']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{path}: does not match {schema['pattern']}")
    if isinstance(value, dict) and "properties" in schema:
        problems += [
            f"{path}.{key}: not in the schema" for key in value if key not in schema["properties"]
        ]
        problems += [
            f"{path}.{key}: required" for key in schema.get("required", []) if key not in value
        ]
        for key, item in value.items():
            if key in schema["properties"]:
                problems += schema_violations(item, schema["properties"][key], f"{path}.{key}")
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            problems += schema_violations(item, schema["additionalProperties"], f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += schema_violations(item, schema["items"], f"{path}[{i}]")
    return problems


STATUS_SCHEMA = resource_schema()["properties"]["status"]


@pytest.mark.parametrize(("status", "expected", "words"), CASES)
def test_status_fits_the_crd_schema(status: dict[str, Any], expected: str, words: str) -> None:
    assert schema_violations(status, STATUS_SCHEMA) == []
    assert set(status) <= set(OWNED_FIELDS)
    assert [c["type"] for c in status["conditions"]] == [
        "Ready",
        "Reconciling",
        "Stalled",
        "ArtifactReady",
    ]
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])
    assert status["observedGeneration"] == 3
    assert status["selector"] == (
        "app.kubernetes.io/component=serving,app.kubernetes.io/instance=digits,"
        "app.kubernetes.io/name=modelship"
    )


def test_the_schema_check_catches_a_stray_field() -> None:
    assert schema_violations({"phase": "Ready", "size": 3}, STATUS_SCHEMA) == [
        "status.size: not in the schema"
    ]
    assert set(STATUS_SCHEMA["properties"]) == {*OWNED_FIELDS, "training", "monitoring", "optimize"}


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


def test_status_names_the_rest_and_grpc_endpoints() -> None:
    status = observe(artifacts=V2, dep=deployment(MD, 2).obj(), pods=ready_pods(2, 2))
    assert status["endpoint"] == "http://digits.ml.svc.cluster.local:8501/v1/models/digits"
    assert status["grpcEndpoint"] == "digits.ml.svc.cluster.local:8500"


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


def test_only_a_rollout_s_counts_moving_are_progress_that_may_wait() -> None:
    """The writes of a rolling update: its start, its counts moving, a crash, its end. Only the
    counts moving (same phase, versions, reasons) may be folded into a later write."""
    serving = observe(dep=deployment(MD, 1).obj(), pods=ready_pods(1, 2))
    rolling = observe(
        artifacts=V2, dep=deployment(MD, 2).obj(), pods=ready_pods(1, 2), previous=serving
    )
    halfway = observe(
        artifacts=V2,
        dep=deployment(MD, 2).obj(),
        pods=[*ready_pods(1, 2), *ready_pods(2, 1)],
        previous=rolling,
    )
    crashing = observe(
        artifacts=V2,
        dep=deployment(MD, 2).obj(),
        pods=[*ready_pods(1, 2), pod("n").version(2).crash_looping().obj()],
        previous=rolling,
    )
    done = observe(
        artifacts=V2, dep=deployment(MD, 2).obj(), pods=ready_pods(2, 2), previous=halfway
    )

    assert status_patch(rolling, halfway)  # the counts and the words changed...
    assert only_progress(rolling, status_patch(rolling, halfway))  # ...and nothing else
    assert not only_progress(serving, status_patch(serving, rolling))  # a rollout starts
    assert not only_progress(rolling, status_patch(rolling, crashing))  # a problem
    assert not only_progress(halfway, status_patch(halfway, done))  # Ready
    assert not only_progress(rolling, {})  # nothing to write is not a write to put off
    assert not only_progress(rolling, {**status_patch(rolling, halfway), "phase": "Degraded"})


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


def test_conditions_of_other_types_are_kept() -> None:
    trained = {
        "type": "Trained",
        "status": "True",
        "reason": "GatePassed",
        "message": "version 2 passed the gate.",
        "lastTransitionTime": "2025-04-30T00:00:00Z",
        "observedGeneration": 1,
    }
    status = observe(dep=D1, pods=ready_pods(1, 2), previous={"conditions": [trained]})
    assert [c["type"] for c in status["conditions"]] == [
        "Ready",
        "Reconciling",
        "Stalled",
        "ArtifactReady",
        "Trained",
    ]
    assert status["conditions"][-1] == trained


@pytest.mark.parametrize(("status", "expected", "words"), CASES)
def test_messages_keep_the_uri_s_case_and_end_without_a_space(
    status: dict[str, Any], expected: str, words: str
) -> None:
    for found in status["conditions"]:
        message = found["message"]
        assert "S3://" not in message, message
        assert message == message.strip(), repr(message)


def test_a_corrupt_newer_version_is_named_by_its_uri_in_lower_case() -> None:
    status = observe(
        artifacts=[version(1), version(2), CORRUPT_3],
        dep=D2,
        pods=ready_pods(2, 2),
        previous={**SERVING_1, "currentVersion": 2},
    )
    message = condition(status, "Ready")["message"]
    assert "/v1/models/digits. s3://models/digits: version 3: x was replaced;" in message


def test_words_quoted_from_kubernetes_lose_their_trailing_space_and_newline() -> None:
    said = 'pods "digits-serving-x" is forbidden: exceeded quota: gpus, requested: 1 \n'
    status = observe(dep=deployment(MD, 1).replica_failure(said).obj())
    for found in status["conditions"]:
        assert found["message"] == found["message"].strip(), repr(found["message"])
    assert "exceeded quota: gpus, requested: 1" in condition(status, "Ready")["message"]
