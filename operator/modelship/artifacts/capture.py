"""Captured requests in S3: where a batch goes, writing it (with server-side encryption when
asked), reading batches back for training, and the retention sweep.

A batch is one gzip-compressed JSON-lines object, one captured request per line, at

    <storageUri>/<model>/<version>/<YYYY-MM-DD>/<YYYYMMDDTHHMMSSffffffZ>-<pod>-<seq>.jsonl.gz

The date folder lets a training run (or a person with `aws s3 ls`) take a time range by
prefix; the pod name and a per-process sequence number keep replicas from overwriting each
other's batches. The retention sweep goes by each object's LastModified, which S3 sets and no
writer can get wrong.
"""

from __future__ import annotations

import datetime
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from modelship.api.capture import SSE_KMS, capture_segment
from modelship.artifacts.s3 import make_s3_client, translated_errors
from modelship.artifacts.settings import S3Settings
from modelship.artifacts.uri import StorageUri, parse_storage_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BATCH_SUFFIX: Final = ".jsonl.gz"


def capture_prefix(uri: StorageUri, model: str, version: int | None = None) -> str:
    """The key prefix (ending in "/") of a model's captures, or of one version's."""
    base = f"{uri.model_prefix}{capture_segment(model)}/"
    return base if version is None else f"{base}{version}/"


def batch_key(
    uri: StorageUri, model: str, version: int, when: datetime.datetime, pod: str, sequence: int
) -> str:
    """The object key of one batch written at `when` (UTC) by `pod`."""
    when = when.astimezone(datetime.UTC)
    stamp = when.strftime("%Y%m%dT%H%M%S%fZ")
    return (
        f"{capture_prefix(uri, model, version)}{when:%Y-%m-%d}/"
        f"{stamp}-{capture_segment(pod)}-{sequence:06d}{BATCH_SUFFIX}"
    )


def encode_batch(lines: list[bytes]) -> bytes:
    """JSON lines (each without its newline), gzip-compressed."""
    return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=6)


def decode_batch(body: bytes) -> Iterator[dict[str, Any]]:
    """The records of one batch."""
    for line in gzip.decompress(body).splitlines():
        if line.strip():
            yield json.loads(line)


@dataclass(frozen=True)
class CapturedObject:
    key: str
    size: int
    last_modified: datetime.datetime


@dataclass
class CaptureStore:
    """Batches of captured requests under one storage URI."""

    uri: StorageUri
    settings: S3Settings = field(default_factory=S3Settings)
    sse: str | None = None
    """None, "AES256" or "aws:kms": the encryption S3 applies to each batch it stores."""
    kms_key_id: str | None = None
    """The KMS key for "aws:kms" (None: the bucket's default key)."""
    _client: S3Client | None = field(default=None, repr=False)

    @property
    def client(self) -> S3Client:
        if self._client is None:
            # A batch is small: a few connections suffice, and a hung store must not hold a
            # batch for minutes (the queue behind it drops, and says so).
            self._client = make_s3_client(self.settings, 2, read_timeout=30, max_attempts=3)
        return self._client

    def put_batch(self, key: str, body: bytes) -> None:
        extra: dict[str, Any] = {}
        if self.sse is not None:
            extra["ServerSideEncryption"] = self.sse
            if self.sse == SSE_KMS and self.kms_key_id:
                extra["SSEKMSKeyId"] = self.kms_key_id
        with translated_errors(f"writing captured requests to {key}", self.uri.bucket):
            self.client.put_object(
                Bucket=self.uri.bucket,
                Key=key,
                Body=body,
                # Not Content-Encoding: gzip, which makes HTTP clients inflate the download
                # and leaves a .gz name holding plain text.
                ContentType="application/gzip",
                **extra,
            )

    def batches(self, prefix: str) -> list[CapturedObject]:
        """Every batch under `prefix`, oldest key first."""
        found: list[CapturedObject] = []
        with translated_errors(f"listing captured requests under {prefix}", self.uri.bucket):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.uri.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"].endswith(BATCH_SUFFIX):
                        found.append(
                            CapturedObject(item["Key"], item["Size"], item["LastModified"])
                        )
        return sorted(found, key=lambda o: o.key)

    def read_batch(self, key: str) -> list[dict[str, Any]]:
        with translated_errors(f"reading captured requests from {key}", self.uri.bucket):
            body = self.client.get_object(Bucket=self.uri.bucket, Key=key)["Body"].read()
        return list(decode_batch(body))

    def records(self, model: str, version: int | None = None) -> Iterator[dict[str, Any]]:
        """Every captured record of `model` (one version, or all), batch by batch."""
        for batch in self.batches(capture_prefix(self.uri, model, version)):
            yield from self.read_batch(batch.key)

    def delete_older_than(self, model: str, cutoff: datetime.datetime) -> int:
        """Delete the model's batches S3 stored before `cutoff`; returns how many."""
        old = [
            b.key for b in self.batches(capture_prefix(self.uri, model)) if b.last_modified < cutoff
        ]
        with translated_errors("deleting expired captured requests", self.uri.bucket):
            for start in range(0, len(old), 1000):  # DeleteObjects takes up to 1000 keys
                chunk = old[start : start + 1000]
                self.client.delete_objects(
                    Bucket=self.uri.bucket,
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )
        return len(old)


def read_captures(
    location: str,
    settings: S3Settings,
    *,
    version: int | None = None,
    since: datetime.datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """The records captured for one model, batch by batch in time order; `location` is
    <storageUri>/<model> (what the training run is given), `version` keeps one version's,
    `since` only batches stored at or after it."""
    uri = parse_storage_uri(location)
    store = CaptureStore(uri, settings)
    prefix = uri.model_prefix + (f"{version}/" if version is not None else "")
    for batch in store.batches(prefix):
        if since is None or batch.last_modified >= since:
            yield from store.read_batch(batch.key)
