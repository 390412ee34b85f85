"""What the status says when things go wrong, and that a bad version never replaces a good one."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from modelship.dev.s3 import free_port
from modelship.dev.simulation import CRASHLOOP_IMAGE, INIT_CHECKSUM_IMAGE
from tests.cluster_fixtures import OperatorProcess, wait_for
from tests.integration.counters import wait_passes
from tests.integration.operator_env import OPERATOR_ENV, ModelWorld, condition_of, is_ready_with
from tests.resources import s3_secret

pytestmark = pytest.mark.integration


def stalled_with(reason: str):  # type: ignore[no-untyped-def]
    def check(status: dict) -> bool:  # type: ignore[type-arg]
        stalled = condition_of(status, "Stalled")
        return stalled.get("status") == "True" and stalled.get("reason") == reason

    return check


def test_version_without_manifest_is_ignored(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    port = free_port()
    world.operator = run_operator(
        "--namespace", world.namespace, env={**OPERATOR_ENV, "MODELSHIP_METRICS_PORT": str(port)}
    )
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    # A half-finished upload: version 2's files but no manifest.
    s3 = world.s3.client()
    s3.put_object(Bucket=world.bucket, Key=f"{world.prefix}/2/saved_model.pb", Body=b"partial")
    wait_passes(port, 2)  # two more polls saw the half-finished version
    status = world.status()
    assert status["currentVersion"] == 1
    assert status.get("targetVersion") in (None, 1)
    assert condition_of(status, "Ready")["status"] == "True"
    listed = {v["number"]: v for v in status.get("versions", [])}
    assert 2 not in listed or listed[2]["state"] == "incomplete"


def test_corrupted_version_never_replaces_the_good_one(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    bad = world.publish()
    world.wait_status(is_ready_with(2), "Ready on version 2")
    # Version 3 is published, then one of its files is replaced after publishing.
    third = world.publish()
    assert third.manifest is not None
    victim = next(f for f in third.manifest.files if f.path.endswith(".pb"))
    key = f"{world.prefix}/3/{victim.path}"
    s3 = world.s3.client()
    body = bytearray(s3.get_object(Bucket=world.bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=world.bucket, Key=key, Body=bytes(body))
    # The operator may have seen version 3 intact for a moment; either way it must settle
    # on version 2 serving and say why version 3 is not.
    status = world.wait_status(
        lambda s: condition_of(s, "ArtifactReady").get("reason") == "ChecksumMismatch",
        "ArtifactReady=False ChecksumMismatch",
        timeout=60,
    )
    assert condition_of(status, "ArtifactReady")["status"] == "False"
    assert "3" in condition_of(status, "ArtifactReady")["message"]
    status = world.wait_status(
        lambda s: s.get("currentVersion") == 2 and s.get("readyReplicas") == 1,
        "version 2 still serving",
    )
    deployment = world.cluster.get("deployment", "digits-serving", world.namespace)
    assert deployment is not None
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["modelship.io/version"] == "2", "a corrupt version reached the pod template"
    assert bad.digest == status["currentDigest"]


def test_more_gpus_than_any_node_has_is_stalled_with_the_schedulers_message(
    operating: ModelWorld,
) -> None:
    world = operating
    world.publish()
    world.cluster.apply(
        world.model_deployment().gpus(9).progress_deadline("30s").obj(), namespace=world.namespace
    )
    status = world.wait_status(stalled_with("Unschedulable"), "Stalled Unschedulable", timeout=90)
    message = condition_of(status, "Stalled")["message"]
    assert "Insufficient nvidia.com/gpu" in message
    assert condition_of(status, "Ready")["status"] == "False"


def test_crash_looping_server_is_not_ready_and_says_why(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(
        world.model_deployment().image(CRASHLOOP_IMAGE).obj(), namespace=world.namespace
    )
    status = world.wait_status(
        lambda s: "CrashLoopBackOff" in json.dumps(s.get("conditions", [])),
        "a condition naming CrashLoopBackOff",
        timeout=60,
    )
    assert condition_of(status, "Ready")["status"] == "False"
    assert status.get("readyReplicas", 0) == 0
    assert status["phase"] in ("Failed", "Degraded", "Deploying")


def test_failing_init_container_reports_the_pulls_reason(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(
        world.model_deployment().image(INIT_CHECKSUM_IMAGE).obj(), namespace=world.namespace
    )
    status = world.wait_status(
        lambda s: "ChecksumMismatch" in json.dumps(s.get("conditions", [])),
        "a condition naming the pull's ChecksumMismatch",
        timeout=60,
    )
    assert condition_of(status, "Ready")["status"] == "False"


def test_missing_secret_is_stalled_then_heals_when_created(world: ModelWorld, run_operator) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.operator_env import OPERATOR_ENV

    world.cluster.kubectl("delete", "secret", "s3-creds", "-n", world.namespace)
    world.publish()
    world.operator = run_operator("--namespace", world.namespace, env=OPERATOR_ENV)
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    status = world.wait_status(stalled_with("SecretNotFound"), "Stalled SecretNotFound")
    message = condition_of(status, "Stalled")["message"]
    assert "s3-creds" in message
    assert world.s3.secret_key not in json.dumps(status)
    world.add_secret()
    world.wait_status(is_ready_with(1), "Ready once the Secret exists", timeout=60)


@pytest.mark.parametrize(
    "case",
    ["no-bucket", "no-versions", "pinned-missing", "denied", "unknown-key", "https-on-http"],
)
def test_bad_storage_input_is_stalled_with_a_reason(operating: ModelWorld, case: str) -> None:
    world = operating
    md = world.model_deployment()
    expected = {
        "no-bucket": "BucketNotFound",
        "no-versions": "NoVersions",
        "pinned-missing": "VersionNotFound",
        "denied": "AccessDenied",
        # Lasting misconfigurations a retry cannot fix: a person must look (not Reconciling).
        "unknown-key": "AccessDenied",
        "https-on-http": "StorageTLSFailed",
    }[case]
    if case == "no-bucket":
        md.storage(
            f"s3://missing-{world.bucket}/models/digits",
            endpoint=world.s3.endpoint,
            secret="s3-creds",
        )
    elif case == "pinned-missing":
        world.publish()
        md.version(7)
    elif case == "denied":
        world.cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "wrong"},
                "stringData": {
                    "AWS_ACCESS_KEY_ID": world.s3.access_key,
                    "AWS_SECRET_ACCESS_KEY": "not-the-secret",
                },
            },
            namespace=world.namespace,
        )
        md.set("storage.secretRef", {"name": "wrong"})
    elif case == "unknown-key":
        world.cluster.apply(
            s3_secret("unknown", "nobody-we-know", "not-the-secret"), namespace=world.namespace
        )
        md.set("storage.secretRef", {"name": "unknown"})
    elif case == "https-on-http":
        world.publish()
        md.set("storage.endpoint", world.s3.endpoint.replace("http://", "https://"))
    world.cluster.apply(md.obj(), namespace=world.namespace)
    status = world.wait_status(
        lambda s: expected in json.dumps(s.get("conditions", [])),
        f"a condition with reason {expected}",
    )
    text = json.dumps(status.get("conditions"))
    assert "not-the-secret" not in text
    stalled = condition_of(status, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", expected)
    assert condition_of(status, "Ready")["status"] == "False"
    if case == "no-versions":
        # A person publishing the first version heals it, with no change to the resource.
        assert world.uri in stalled["message"]
        world.publish()
        world.wait_status(is_ready_with(1), "Ready once version 1 is published")


def test_delete_removes_owned_objects(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    world.cluster.kubectl(
        "delete", "modeldeployment", "digits", "-n", world.namespace, "--wait=true", "--timeout=60s"
    )
    wait_for(
        lambda: (
            world.cluster.get("deployment", "digits-serving", world.namespace) is None
            and world.cluster.get("service", "digits", world.namespace) is None
        ),
        timeout=60,
        what="owned Deployment and Service garbage-collected",
    )


def test_operator_killed_mid_rollout_converges_without_duplicates(
    operating: ModelWorld, run_operator
) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.operator_env import OPERATOR_ENV

    world = operating
    world.publish()
    world.cluster.apply(world.model_deployment().replicas(2).obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    world.publish()
    # Kill it as soon as it starts rolling out version 2.
    wait_for(
        lambda: (
            (world.cluster.get("deployment", "digits-serving", world.namespace) or {})
            .get("spec", {})
            .get("template", {})
            .get("metadata", {})
            .get("labels", {})
            .get("modelship.io/version")
            == "2"
        ),
        timeout=30,
        interval=0.05,
        what="rollout of version 2 started",
    )
    assert world.operator is not None
    world.operator.process.kill()
    world.operator.process.wait()
    world.operator = run_operator("--namespace", world.namespace, env=OPERATOR_ENV)
    world.wait_status(is_ready_with(2), "Ready on version 2 after the restart")
    deployments = world.cluster.list("deployments", world.namespace)
    services = world.cluster.list("services", world.namespace)
    assert [d["metadata"]["name"] for d in deployments] == ["digits-serving"]
    assert [s["metadata"]["name"] for s in services] == ["digits"]
    md = world.md()
    assert all(
        k.startswith("modelship.io/") or not k.startswith("kopf")
        for k in md["metadata"].get("annotations", {})
    )
    assert "kopf.zalando.org/finalizer" not in md["metadata"].get("finalizers", [])


def test_a_model_deployment_is_deleted_even_with_the_operator_stopped(
    operating: ModelWorld,
) -> None:
    """No finalizer: its objects go by owner references, so nothing waits for the operator."""
    world = operating
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")
    assert not world.md()["metadata"].get("finalizers")
    assert world.operator is not None
    world.operator.stop()
    world.cluster.kubectl(
        "delete", "modeldeployment", "digits", "-n", world.namespace, "--timeout=30s"
    )
    assert world.cluster.get("modeldeployment", "digits", world.namespace) is None


def test_an_object_the_api_server_refuses_is_named_in_the_status(operating: ModelWorld) -> None:
    """Here a ResourceQuota that allows no Service; in the field, a full Service IP range."""
    world = operating
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-services"},
        "spec": {"hard": {"services": "0"}},
    }
    world.cluster.apply(quota, namespace=world.namespace)
    world.publish()
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)
    status = world.wait_status(stalled_with("ObjectRefused"), "Stalled with ObjectRefused")
    message = condition_of(status, "Stalled")["message"]
    assert "Service digits" in message and "exceeded quota" in message, message
    assert condition_of(status, "Ready")["status"] == "False"
    assert any(e["reason"] == "ObjectRefused" for e in world.events())

    world.cluster.kubectl("delete", "resourcequota", "no-services", "-n", world.namespace)
    world.wait_status(is_ready_with(1), "Ready once the quota is gone", timeout=90)
