"""spec.monitoring.capture on the test bed: the serving Deployment's server carries the
capture flags and reaches the captures' credentials and the mask key only by secretKeyRef, so
no secret value shows in the pods, the resource's status or its Events; and the API server
refuses a capture it cannot honour, naming the field."""

from __future__ import annotations

import base64
import json

import pytest

from tests.integration.operator_env import ModelWorld, is_ready_with

pytestmark = pytest.mark.integration

MASK_KEY = "a-mask-key-nobody-may-see-0c1d2e"
CAPTURE = {
    "storageUri": "s3://captures/digits",
    "sampleRate": 0.1,
    "maxBytesPerHour": "1Mi",
    "exclude": ["k"],
    "mask": {"inputs": ["x"], "keySecretRef": {"name": "capture-mask", "key": "hmac"}},
    "sse": {"type": "AES256"},
    "retention": "720h",
}


def test_the_serving_deployment_carries_capture_and_no_secret_value_shows(
    operating: ModelWorld,
) -> None:
    world = operating
    world.cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "capture-mask"},
            "type": "Opaque",
            "data": {"hmac": base64.b64encode(MASK_KEY.encode()).decode()},
        },
        namespace=world.namespace,
    )
    world.publish()
    md = world.model_deployment().set("monitoring.capture", CAPTURE)
    world.cluster.apply(md.obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1 with capture on")

    deployment = world.cluster.get("deployment", "digits-serving", world.namespace)
    assert deployment is not None
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    args = server["args"]
    assert args[args.index("--capture-storage-uri") + 1] == "s3://captures/digits"
    assert args[args.index("--capture-max-bytes-per-hour") + 1] == str(2**20)
    assert args[args.index("--capture-mask") + 1] == "x"
    env = {e["name"]: e for e in server["env"]}
    assert env["MODELSHIP_CAPTURE_MASK_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "capture-mask", "key": "hmac"}
    }
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "s3-creds"

    shown = json.dumps([deployment, world.pods(), world.md(), world.events()])
    for value in (MASK_KEY, world.s3.secret_key):
        assert value not in shown
        assert base64.b64encode(value.encode()).decode() not in shown


@pytest.mark.parametrize(
    ("capture", "named"),
    [
        ({"storageUri": "s3://captures/digits", "sampleRate": 0}, "spec.monitoring.capture"),
        ({"storageUri": "s3://captures/digits", "sampleRate": 1.5}, "sampleRate"),
        ({"storageUri": "s3://captures//digits"}, "spec.monitoring.capture.storageUri"),
        (
            {"storageUri": "s3://captures/digits", "sse": {"type": "AES256", "kmsKeyId": "k"}},
            "kmsKeyId",
        ),
        ({"storageUri": "s3://captures/digits", "mask": {"inputs": ["x"]}}, "keySecretRef"),
    ],
)
def test_a_capture_that_cannot_work_is_refused_at_apply(
    world: ModelWorld, capture: dict[str, object], named: str
) -> None:
    result = world.cluster.apply(
        world.model_deployment().set("monitoring.capture", capture).obj(),
        namespace=world.namespace,
        check=False,
    )
    assert result.returncode != 0
    assert named in result.stderr
    assert world.cluster.get("modeldeployment", "digits", world.namespace) is None
