"""How S3 failures become reasons (artifacts/s3.py `storage_error`): a lasting misconfiguration
needs a person (AccessDenied, StorageTLSFailed), only what a retry can fix is
StorageUnavailable."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, SSLError

from modelship.artifacts.s3 import storage_error


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "ListObjectsV2",
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (client_error("InvalidAccessKeyId", 403), "AccessDenied"),
        (client_error("XAdminUserNotFound", 404), "AccessDenied"),  # versitygw: unknown key
        (client_error("Unauthorized", 401), "AccessDenied"),
        (client_error("NoSuchBucket", 404), "BucketNotFound"),
        (client_error("SlowDown", 503), "StorageUnavailable"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "StorageUnavailable"),
        (
            SSLError(endpoint_url="https://127.0.0.1:9", error="WRONG_VERSION_NUMBER"),
            "StorageTLSFailed",
        ),
    ],
)
def test_each_failure_gets_the_reason_a_person_can_act_on(error: Exception, reason: str) -> None:
    found = storage_error(error, "listing versions", "models")
    assert found.reason == reason
    if reason == "StorageTLSFailed":
        assert "https://127.0.0.1:9" in found.message and "scheme" in found.message
