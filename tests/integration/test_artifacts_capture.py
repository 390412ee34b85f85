"""The capture store against the real S3 server: batches are written with the server-side
encryption asked for, read back record by record, and the retention sweep deletes the batches
stored before its cutoff and keeps the rest.

versitygw (the test S3 server) accepts the SSE headers but neither encrypts nor reports
encryption back (HeadObject has no ServerSideEncryption), so what is proven here is that each
PutObject carries them and the store accepts it; that S3 encrypts is AWS's side.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest

from modelship.api.capture import SSE_AES256, SSE_KMS
from modelship.artifacts import S3Settings, parse_storage_uri
from modelship.artifacts.capture import CaptureStore, batch_key, encode_batch

pytestmark = pytest.mark.integration

NOW = datetime.datetime(2026, 12, 6, 1, 0, tzinfo=datetime.UTC)


def store_for(s3_server: Any, bucket: str, **options: Any) -> CaptureStore:
    settings = S3Settings(
        endpoint=s3_server.endpoint, region=s3_server.region,
        access_key_id=s3_server.access_key, secret_access_key=s3_server.secret_key,
    )  # fmt: skip
    return CaptureStore(parse_storage_uri(f"s3://{bucket}/captures"), settings, **options)


def sent_headers(store: CaptureStore) -> list[dict[str, str]]:
    """The headers of every PutObject the store's client sends from now on."""
    seen: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        seen.append(
            {
                k.lower(): v.decode() if isinstance(v, bytes) else str(v)
                for k, v in request.headers.items()
            }
        )

    store.client.meta.events.register("before-send.s3.PutObject", record)
    return seen


def put(store: CaptureStore, records: list[dict[str, Any]], sequence: int) -> str:
    key = batch_key(store.uri, "digits", 1, NOW, "pod", sequence)
    store.put_batch(key, encode_batch([json.dumps(r).encode() for r in records]))
    return key


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"sse": SSE_AES256}, {"x-amz-server-side-encryption": SSE_AES256}),
        (
            {"sse": SSE_KMS, "kms_key_id": "alias/captures"},
            {
                "x-amz-server-side-encryption": SSE_KMS,
                "x-amz-server-side-encryption-aws-kms-key-id": "alias/captures",
            },
        ),
    ],
)
def test_batches_are_written_with_the_server_side_encryption_asked_for(
    s3_server: Any, s3_bucket: str, options: dict[str, str], expected: dict[str, str]
) -> None:
    store = store_for(s3_server, s3_bucket, **options)
    headers = sent_headers(store)
    put(store, [{"n": 1}, {"n": 2}], 1)
    assert headers and all(headers[0].get(k) == v for k, v in expected.items())
    assert list(store.records("digits")) == [{"n": 1}, {"n": 2}]


def test_without_sse_no_encryption_header_is_sent(s3_server: Any, s3_bucket: str) -> None:
    store = store_for(s3_server, s3_bucket)
    headers = sent_headers(store)
    put(store, [{"n": 1}], 1)
    assert not any(k.startswith("x-amz-server-side-encryption") for k in headers[0])


def test_the_retention_sweep_deletes_only_batches_stored_before_the_cutoff(
    s3_server: Any, s3_bucket: str
) -> None:
    store = store_for(s3_server, s3_bucket)
    old = put(store, [{"n": "old"}], 1)
    (stored,) = store.batches("captures/digits/")
    # S3's LastModified has one-second steps: the next batch is stored after the cutoff.
    cutoff = stored.last_modified + datetime.timedelta(seconds=1)
    while datetime.datetime.now(datetime.UTC) < cutoff + datetime.timedelta(milliseconds=50):
        time.sleep(0.05)
    new = put(store, [{"n": "new"}], 2)
    assert store.delete_older_than("digits", cutoff) == 1
    assert [b.key for b in store.batches("captures/digits/")] == [new]
    assert old != new and list(store.records("digits")) == [{"n": "new"}]
