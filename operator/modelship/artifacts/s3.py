"""The S3 client: how it is configured (endpoint, region, credentials, retries, connection
pool) and how boto3's errors become ArtifactError reasons."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from modelship.artifacts.errors import (
    ACCESS_DENIED,
    BUCKET_NOT_FOUND,
    STORAGE_TLS_FAILED,
    STORAGE_UNAVAILABLE,
    ArtifactError,
)
from modelship.artifacts.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Parallel transfers use one connection per worker; the pool must hold them all or
# urllib3 discards connections and every request pays a new TCP (and TLS) handshake.
DEFAULT_CONCURRENCY = 16

_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidToken",
        "ExpiredToken",
        "Forbidden",
        "403",
        "401",
        # versitygw's answer for an access key it does not know.
        "XAdminUserNotFound",
    }
)


def make_s3_client(
    settings: S3Settings,
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    connect_timeout: float = 5,
    read_timeout: float = 60,
    max_attempts: int = 5,
) -> S3Client:
    """A client with bounded retries and timeouts, and a pool sized for `concurrency`.
    The operator passes short timeouts: it must report a hung store within a poll."""
    import boto3  # boto3 costs ~0.3 s to import; `modelship --help` should not pay it
    from botocore.config import Config

    endpoint = (
        settings.endpoint
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )
    config = Config(
        # "standard" retries throttling, 5xx and connection errors with exponential backoff.
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        tcp_keepalive=True,
        max_pool_connections=concurrency + 4,
        # S3-compatible servers (MinIO, versitygw, Ceph) are addressed by path; virtual-host
        # style would need wildcard DNS for every bucket.
        s3={"addressing_style": "path"} if endpoint else {},
        # The manifest's sha256 is the end-to-end check; boto3's default trailing CRC32 adds
        # CPU per byte and aws-chunked bodies that not every compatible server accepts.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region,
    )
    client: S3Client = session.client("s3", endpoint_url=endpoint, config=config)
    return client


def storage_error(err: Exception, what: str, bucket: str) -> ArtifactError:
    """Translate a boto3/botocore/network error raised while doing `what` into an
    ArtifactError; anything unexpected becomes StorageUnavailable."""
    from botocore.exceptions import (
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
        SSLError,
    )

    if isinstance(err, ArtifactError):
        return err
    if isinstance(err, SSLError):
        # Lasting, not transient: retrying will not change the scheme or the certificate.
        return ArtifactError(
            STORAGE_TLS_FAILED,
            f"TLS with the store failed while {what}: {err}; check that the endpoint's scheme "
            "matches the server (https:// needs a TLS server, http:// a plain one) and that "
            "its certificate is trusted.",
        )
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return ArtifactError(
            ACCESS_DENIED,
            f"no S3 credentials while {what}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or another source boto3 reads).",
        )
    if isinstance(err, ClientError):
        code, status = client_error_code(err)
        if code == "NoSuchBucket":
            return ArtifactError(
                BUCKET_NOT_FOUND, f"the bucket {bucket!r} does not exist (while {what})."
            )
        if code in _ACCESS_DENIED_CODES or status in (401, 403):
            return ArtifactError(
                ACCESS_DENIED,
                f"access denied while {what} ({code}): check the credentials and that they "
                f"may read and write bucket {bucket!r}.",
            )
        return ArtifactError(
            STORAGE_UNAVAILABLE,
            f"the store answered {code} (HTTP {status}) while {what}.",
        )
    return ArtifactError(
        STORAGE_UNAVAILABLE,
        f"the store could not be reached while {what}, even after retries: {err}.",
    )


def client_error_code(err: Any) -> tuple[str, int]:
    """(error code, HTTP status) of a botocore ClientError."""
    response = getattr(err, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", "Unknown"))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


@contextmanager
def translated_errors(what: str, bucket: str) -> Iterator[None]:
    """Run a block of S3 calls; any failure leaves it as an ArtifactError."""
    try:
        yield
    except ArtifactError:
        raise
    except Exception as err:  # botocore, urllib3 and socket errors have no common base
        if not _is_storage_failure(err):
            raise
        raise storage_error(err, what, bucket) from err


def _is_storage_failure(err: Exception) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    # Local file errors (disk full, permissions) are OSErrors too and must stay what they are;
    # network errors reach us wrapped by botocore, or raw from urllib3 while a body streams.
    return isinstance(err, BotoCoreError | ClientError) or type(err).__module__.startswith(
        "urllib3"
    )
