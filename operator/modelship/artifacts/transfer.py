"""Parallel transfers between local files and S3 objects.

Uploads use one PUT per small file and multipart uploads for big ones; downloads use ranged
GETs for big objects. All parts of all files share one thread pool, so a version of many
small files and a version of one huge file both keep every connection busy. Downloads are
hashed while they arrive: each file's bytes are fed to sha256 in order as soon as a
contiguous stretch is on disk (read back from the page cache), so no part is held in memory
waiting for its predecessor.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelship.artifacts.errors import CHECKSUM_MISMATCH, SIZE_MISMATCH, ArtifactError
from modelship.artifacts.s3 import DEFAULT_CONCURRENCY, client_error_code, storage_error
from modelship.artifacts.versions import normalize_etag

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
_IO_CHUNK = MiB
_S3_MAX_PARTS = 10_000
_BODY_READ_ATTEMPTS = 4  # botocore retries requests, not a body that breaks mid-stream


class TransferProgress(Protocol):
    """Told how many bytes a transfer moves, then each time some have moved."""

    def begin(self, total_bytes: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def end(self) -> None: ...


@dataclass(frozen=True)
class TransferTuning:
    """How a transfer is cut into requests."""

    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight
    # Uploads hold one part per worker in memory: concurrency x part_size (128 MiB).
    part_size: int = 8 * MiB  # multipart part / ranged GET size
    multipart_threshold: int = 8 * MiB  # objects at least this big are split into parts


DEFAULT_TUNING = TransferTuning()


@dataclass(frozen=True)
class UploadItem:
    """A local file to store under `key`; `sha256` (hex) lets the server check a single PUT."""

    source: Path
    key: str
    size: int
    sha256: str | None = None


@dataclass(frozen=True)
class DownloadItem:
    """An object to write to `target`; it must be `size` bytes and, when given, hash to
    `sha256` (hex)."""

    key: str
    target: Path
    size: int
    sha256: str | None = None


def sha256_file(path: Path) -> str:
    """The hex sha256 of a local file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_IO_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def hash_files(paths: Sequence[Path], concurrency: int) -> list[str]:
    """sha256 of several files at once (hashlib releases the GIL on big blocks)."""
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(paths)))) as pool:
        return list(pool.map(sha256_file, paths))


def part_ranges(size: int, tuning: TransferTuning) -> list[tuple[int, int]]:
    """(offset, length) of each request for an object of `size` bytes: one for small
    objects, parts of `part_size` (grown to stay within S3's 10,000 parts) for big ones."""
    if size < tuning.multipart_threshold:
        return [(0, size)]
    part = max(tuning.part_size, -(-size // _S3_MAX_PARTS))
    return [(offset, min(part, size - offset)) for offset in range(0, size, part)]


class _Batch:
    """A thread pool whose first failure stops the rest and is what the caller sees. Used
    as a context manager: on leaving, every worker has stopped, so a caller may then remove
    the files they were writing."""

    def __init__(self, concurrency: int, what: str, bucket: str) -> None:
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
        self.cancelled = threading.Event()
        self.what = what
        self.bucket = bucket
        self.futures: list[Future[Any]] = []

    def __enter__(self) -> _Batch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is not None:
            self.cancelled.set()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, task: Callable[[], Any]) -> Future[Any]:
        future = self.pool.submit(self._guarded, task)
        self.futures.append(future)
        return future

    def _guarded(self, task: Callable[[], Any]) -> Any:
        if self.cancelled.is_set():
            return None
        try:
            return task()
        except BaseException:
            self.cancelled.set()
            raise

    def wait(self) -> None:
        """Wait for every task; raise the first failure (as an ArtifactError when it came
        from the store)."""
        done, _ = wait(self.futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            self.cancelled.set()
            error = next(
                (f.exception() for f in failed if isinstance(f.exception(), ArtifactError)),
                failed[0].exception(),
            )
            assert error is not None
            raise _as_artifact_error(error, self.what, self.bucket) from error


def _as_artifact_error(err: BaseException, what: str, bucket: str) -> BaseException:
    if isinstance(err, ArtifactError | OSError) or not isinstance(err, Exception):
        return err
    return storage_error(err, what, bucket)


def _advance(progress: TransferProgress | None, lock: threading.Lock, nbytes: int) -> None:
    if progress is not None and nbytes:
        with lock:
            progress.advance(nbytes)


def upload_files(
    client: S3Client,
    bucket: str,
    items: Sequence[UploadItem],
    tuning: TransferTuning = DEFAULT_TUNING,
    progress: TransferProgress | None = None,
) -> dict[str, str]:
    """Upload every item in parallel; return each key's ETag (without quotes)."""
    lock = threading.Lock()
    etags: dict[str, str] = {}
    multipart: dict[str, tuple[str, list[tuple[int, int]], dict[int, str]]] = {}
    if progress is not None:
        progress.begin(sum(item.size for item in items))

    def put_whole(item: UploadItem) -> None:
        body = item.source.read_bytes()
        if len(body) != item.size:
            raise ArtifactError(
                SIZE_MISMATCH, f"{item.source} changed size while it was being published."
            )
        extra: dict[str, Any] = {}
        if item.sha256:
            # The server recomputes it and refuses a body damaged on the way.
            extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(item.sha256)).decode()
        response = client.put_object(Bucket=bucket, Key=item.key, Body=body, **extra)
        with lock:
            etags[item.key] = normalize_etag(response["ETag"])
        _advance(progress, lock, item.size)

    def put_part(item: UploadItem, upload_id: str, number: int, offset: int, length: int) -> None:
        with item.source.open("rb") as stream:
            stream.seek(offset)
            body = stream.read(length)
        response = client.upload_part(
            Bucket=bucket, Key=item.key, UploadId=upload_id, PartNumber=number, Body=body
        )
        with lock:
            multipart[item.key][2][number] = response["ETag"]
        _advance(progress, lock, length)

    try:
        with _Batch(tuning.concurrency, "uploading", bucket) as batch:
            for item in items:
                ranges = part_ranges(item.size, tuning)
                if len(ranges) == 1:
                    batch.submit(functools.partial(put_whole, item))
                    continue
                created = client.create_multipart_upload(Bucket=bucket, Key=item.key)
                upload_id = created["UploadId"]
                multipart[item.key] = (upload_id, ranges, {})
                for number, (offset, length) in enumerate(ranges, start=1):
                    batch.submit(
                        functools.partial(put_part, item, upload_id, number, offset, length)
                    )
            batch.wait()
        for key, (upload_id, _, parts) in multipart.items():
            response = client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": parts[n]} for n in sorted(parts)]
                },
            )
            etags[key] = normalize_etag(response["ETag"])
    except BaseException as err:
        _abort_uploads(client, bucket, {k: v[0] for k, v in multipart.items() if k not in etags})
        if isinstance(err, Exception) and not isinstance(err, ArtifactError | OSError):
            raise storage_error(err, "uploading", bucket) from err
        raise
    finally:
        if progress is not None:
            progress.end()
    return etags


def _abort_uploads(client: S3Client, bucket: str, uploads: dict[str, str]) -> None:
    """Best effort: unfinished multipart uploads cost storage until aborted."""
    for key, upload_id in uploads.items():
        with contextlib.suppress(Exception):  # the original failure is the one to report
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


class _OrderedHasher:
    """sha256 of a file whose parts land out of order: the thread that completes the next
    contiguous stretch reads it back from the file (the page cache) and hashes it."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self.digest = hashlib.sha256()
        self.hashed_to = 0
        self.ready: dict[int, int] = {}  # offset -> length, written but not hashed yet
        self.busy = False
        self.lock = threading.Lock()

    def part_written(self, offset: int, length: int) -> bool:
        """Record a written part; True for the one call that finished hashing the file."""
        with self.lock:
            self.ready[offset] = length
            if self.busy:
                return False  # the thread already hashing will reach this part
            self.busy = True
        while True:
            with self.lock:
                length = self.ready.pop(self.hashed_to, -1)
                if length < 0:
                    self.busy = False
                    return False
            self._hash(self.hashed_to, length)
            self.hashed_to += length
            if self.hashed_to == self.size:
                return True

    def _hash(self, offset: int, length: int) -> None:
        end = offset + length
        with self.path.open("rb", buffering=0) as stream:
            stream.seek(offset)
            while offset < end:
                block = stream.read(min(_IO_CHUNK, end - offset))
                if not block:
                    raise OSError(f"short read at offset {offset} of {self.path} while hashing")
                self.digest.update(block)
                offset += len(block)


@dataclass(frozen=True)
class _OpenDownload:
    item: DownloadItem
    hasher: _OrderedHasher | None


def download_files(
    client: S3Client,
    bucket: str,
    items: Sequence[DownloadItem],
    tuning: TransferTuning = DEFAULT_TUNING,
    progress: TransferProgress | None = None,
    verify: bool = True,
) -> None:
    """Download every item in parallel into its (new) target file, checking sizes and,
    with `verify`, sha256 as the bytes arrive. Raises ChecksumMismatch or SizeMismatch
    naming the file; files already written are left for the caller to remove."""
    lock = threading.Lock()
    batch = _Batch(tuning.concurrency, "downloading", bucket)
    opened: list[_OpenDownload] = []
    if progress is not None:
        progress.begin(sum(item.size for item in items))

    def fetch_part(download: _OpenDownload, offset: int, length: int, ranged: bool) -> None:
        if not _fetch_range(
            client, bucket, download, offset, length, ranged, batch.cancelled, progress, lock
        ):
            return
        if download.hasher is not None and download.hasher.part_written(offset, length):
            _check_digest(download.item, download.hasher.digest.hexdigest())

    try:
        with batch:
            for item in items:
                item.target.parent.mkdir(parents=True, exist_ok=True)
                # Created here, opened per part: a version of thousands of files must not
                # hold thousands of descriptors open.
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                os.close(os.open(item.target, flags, 0o644))
                download = _OpenDownload(
                    item=item, hasher=_OrderedHasher(item.target, item.size) if verify else None
                )
                opened.append(download)
                ranges = part_ranges(item.size, tuning)
                for offset, length in ranges:
                    batch.submit(
                        functools.partial(fetch_part, download, offset, length, len(ranges) > 1)
                    )
            batch.wait()
        for download in opened:
            if download.hasher is not None and download.hasher.hashed_to != download.item.size:
                raise ArtifactError(
                    SIZE_MISMATCH,
                    f"{download.item.key}: only {download.hasher.hashed_to} of "
                    f"{download.item.size} bytes arrived.",
                )
    finally:
        if progress is not None:
            progress.end()


def _fetch_range(
    client: S3Client,
    bucket: str,
    download: _OpenDownload,
    offset: int,
    length: int,
    ranged: bool,
    cancelled: threading.Event,
    progress: TransferProgress | None,
    lock: threading.Lock,
) -> bool:
    """GET one range (or the whole object) into the file at its offset, resuming where a
    body broke off mid-stream. False when the batch was cancelled before the end."""
    if length == 0:
        return True
    item = download.item
    received = 0
    attempt = 0
    fd = os.open(item.target, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        while True:
            body = _get_range(client, bucket, item, offset + received, length - received, ranged)
            try:
                while received < length:
                    if cancelled.is_set():
                        return False
                    block = body.read(min(_IO_CHUNK, length - received))
                    if not block:
                        raise _size_mismatch(item)
                    os.pwrite(fd, block, offset + received)
                    received += len(block)
                    _advance(progress, lock, len(block))
                return True
            except ArtifactError:
                raise
            except Exception as err:
                attempt += 1
                if not _is_broken_stream(err) or attempt >= _BODY_READ_ATTEMPTS:
                    raise
                time.sleep(0.2 * 2**attempt)  # let a flapping connection or server recover
            finally:
                body.close()
    finally:
        os.close(fd)


def _get_range(
    client: S3Client, bucket: str, item: DownloadItem, start: int, length: int, ranged: bool
) -> Any:
    """The body of a GET for `length` bytes from `start`; SizeMismatch when the object is
    gone or not the size the manifest says (it was replaced after publishing)."""
    from botocore.exceptions import ClientError

    request: dict[str, Any] = {"Bucket": bucket, "Key": item.key}
    if ranged or start:
        request["Range"] = f"bytes={start}-{start + length - 1}"
    try:
        response = client.get_object(**request)
    except ClientError as err:
        code, status = client_error_code(err)
        if code in ("NoSuchKey", "InvalidRange") or status in (404, 416):
            raise _size_mismatch(item) from None
        raise
    if int(response.get("ContentLength", -1)) != length:
        response["Body"].close()
        raise _size_mismatch(item)
    return response["Body"]


def _is_broken_stream(err: Exception) -> bool:
    from botocore.exceptions import BotoCoreError

    return isinstance(err, BotoCoreError | ConnectionError | TimeoutError) or type(
        err
    ).__module__.startswith("urllib3")


def _size_mismatch(item: DownloadItem) -> ArtifactError:
    return ArtifactError(
        SIZE_MISMATCH,
        f"{item.key} is missing or not {item.size} bytes in the store as the manifest says: "
        "it was changed after the version was published.",
    )


def _check_digest(item: DownloadItem, actual: str) -> None:
    if item.sha256 is not None and actual != item.sha256:
        raise ArtifactError(
            CHECKSUM_MISMATCH,
            f"{item.key} has sha256 {actual} but the manifest says {item.sha256}: the stored "
            "object is damaged or was replaced, so it will not be used.",
        )


def hash_objects(
    client: S3Client,
    bucket: str,
    keys: Iterable[str],
    concurrency: int = DEFAULT_CONCURRENCY,
) -> dict[str, tuple[int, str]]:
    """Stream objects through sha256 without keeping them: key -> (size, hex sha256)."""
    results: dict[str, tuple[int, str]] = {}
    lock = threading.Lock()
    batch = _Batch(concurrency, "verifying", bucket)

    def hash_one(key: str) -> None:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        size = 0
        try:
            while block := body.read(_IO_CHUNK):
                digest.update(block)
                size += len(block)
        finally:
            body.close()
        with lock:
            results[key] = (size, digest.hexdigest())

    with batch:
        for key in keys:
            batch.submit(functools.partial(hash_one, key))
        batch.wait()
    return results
