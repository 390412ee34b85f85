"""The operator's S3 settings from the user's Secret, or a finding that names it."""

from __future__ import annotations

import base64

import pytest

from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.settings import S3Settings
from modelship.reconcile.storage import storage_settings
from tests.unit.reconcile.builders import NAMESPACE, model_deployment


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_settings_from_the_secret() -> None:
    spec = model_deployment().endpoint("http://minio:9000").region("us-east-1").secret("c").spec()
    secret = {"data": {"AWS_ACCESS_KEY_ID": b64("id\n"), "AWS_SECRET_ACCESS_KEY": b64("s")}}
    assert storage_settings(spec.storage, secret, namespace=NAMESPACE) == S3Settings(
        endpoint="http://minio:9000", region="us-east-1", access_key_id="id", secret_access_key="s"
    )


def test_no_secret_ref_means_the_usual_chain() -> None:
    spec = model_deployment().region("us-east-1").spec()
    assert storage_settings(spec.storage, None, namespace=NAMESPACE) == S3Settings(
        region="us-east-1"
    )


@pytest.mark.parametrize(
    ("secret", "reason", "words"),
    [
        (None, "SecretNotFound", "Secret ml/s3-creds"),
        ({"data": {"AWS_ACCESS_KEY_ID": b64("id")}}, "SecretKeyNotFound", "AWS_SECRET_ACCESS_KEY"),
        (
            {"data": {"AWS_ACCESS_KEY_ID": "%%", "AWS_SECRET_ACCESS_KEY": b64("s")}},
            "SecretKeyNotFound",
            "AWS_ACCESS_KEY_ID",
        ),
        ({}, "SecretKeyNotFound", "AWS_ACCESS_KEY_ID"),
    ],
)
def test_missing_secret_or_key(secret: dict | None, reason: str, words: str) -> None:
    spec = model_deployment().secret("s3-creds").spec()
    with pytest.raises(ArtifactError) as caught:
        storage_settings(spec.storage, secret, namespace=NAMESPACE)
    assert caught.value.reason == reason
    assert words in caught.value.message
