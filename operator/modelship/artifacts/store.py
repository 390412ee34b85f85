"""The artifact store: a model's versions under one storage URI — list and check them
cheaply, publish a new one, and pull one into a local folder with full verification."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modelship.artifacts.baseline import Baseline
from modelship.artifacts.errors import (
    CHECKSUM_MISMATCH,
    INVALID_MODEL,
    MANIFEST_INVALID,
    UNSAFE_KEY,
    VERSION_EXISTS,
    VERSION_NOT_FOUND,
    ArtifactError,
)
from modelship.artifacts.layout import next_version, safe_relative_path, split_version_key
from modelship.artifacts.manifest import (
    MANIFEST_NAME,
    DerivedFrom,
    Manifest,
    ManifestFile,
    rfc3339,
)
from modelship.artifacts.s3 import client_error_code, translated_errors
from modelship.artifacts.savedmodel import ModelInfo, inspect_saved_model
from modelship.artifacts.transfer import (
    DEFAULT_TUNING,
    DownloadItem,
    TransferProgress,
    TransferTuning,
    UploadItem,
    download_files,
    hash_files,
    hash_objects,
    upload_files,
)
from modelship.artifacts.uri import StorageUri
from modelship.artifacts.versions import (
    ListedObject,
    VersionInfo,
    assess_version,
    normalize_etag,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a manifest lists files; anything bigger is not one
_TOOL = "modelship"

Listing = dict[int, dict[str, ListedObject]]  # version -> relative path -> object


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ArtifactStore:
    """The versions of one model in S3. Only this class (through `transfer`) does S3 I/O."""

    def __init__(
        self,
        client: S3Client,
        uri: StorageUri,
        tuning: TransferTuning = DEFAULT_TUNING,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.client = client
        self.uri = uri
        self.tuning = tuning
        self.clock = clock
        self._manifests: dict[tuple[int, str], bytes] = {}  # (version, ETag) -> bytes

    # -- cheap checks: one listing plus manifest GETs, never model files --------------------

    def list_versions(self) -> list[VersionInfo]:
        """Every version folder with its state, ascending."""
        listing = self._list(self.uri.model_prefix, "listing versions")
        numbers = sorted(listing)
        # Forget manifests no longer listed (deleted versions, replaced manifests), so a store
        # kept for the life of the operator holds only what the store holds now.
        listed = {
            (number, entry.etag)
            for number, objects in listing.items()
            if (entry := objects.get(MANIFEST_NAME)) is not None
        }
        for key in self._manifests.keys() - listed:
            del self._manifests[key]
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(numbers)))) as pool:
            assessed = pool.map(lambda n: self._assess(n, listing[n])[0], numbers)
            return list(assessed)

    def check_version(self, number: int) -> VersionInfo:
        """The same cheap check for one version; VersionNotFound when its folder is empty."""
        return self._check(number)[0]

    def verify_version(self, number: int) -> VersionInfo:
        """The cheap check, then download and hash every file (without keeping it); a
        sha256 difference makes the version corrupt with reason ChecksumMismatch."""
        info, _ = self._check(number)
        if info.state != "complete" or info.manifest is None:
            return info
        keys = {self.uri.key(number, f.path): f for f in info.manifest.files}
        with translated_errors(f"verifying version {number} of {self.uri}", self.uri.bucket):
            hashed = hash_objects(self.client, self.uri.bucket, keys, self.tuning.concurrency)
        for key, entry in keys.items():
            size, sha256 = hashed[key]
            if size != entry.size or sha256 != entry.sha256:
                return _with_problem(
                    info,
                    CHECKSUM_MISMATCH,
                    f"version {number}: {entry.path} has sha256 {sha256} but the manifest "
                    f"says {entry.sha256}.",
                )
        return info

    def _check(self, number: int) -> tuple[VersionInfo, bytes | None]:
        listing = self._list(self.uri.version_prefix(number), f"checking version {number}")
        if number not in listing:
            raise ArtifactError(
                VERSION_NOT_FOUND, f"version {number} does not exist under {self.uri}."
            )
        return self._assess(number, listing[number])

    def _list(self, prefix: str, what: str) -> Listing:
        listing: Listing = {}
        with translated_errors(f"{what} under {self.uri}", self.uri.bucket):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.uri.bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    split = split_version_key(self.uri.model_prefix, entry["Key"])
                    if split is None:
                        continue
                    number, path = split
                    listing.setdefault(number, {})[path] = ListedObject(
                        path=path, size=entry["Size"], etag=normalize_etag(entry.get("ETag"))
                    )
        return listing

    def _assess(
        self, number: int, objects: Mapping[str, ListedObject]
    ) -> tuple[VersionInfo, bytes | None]:
        listed = objects.get(MANIFEST_NAME)
        if listed is None:
            return assess_version(number, objects, None), None
        if listed.size > _MAX_MANIFEST_BYTES:
            return assess_version(number, objects, b"{}"), None  # judged invalid unread
        # A manifest is read again only when its ETag changes, so an operator polling a
        # store with many versions pays one listing per poll, not one GET per version.
        cache_key = (number, listed.etag)
        data = self._manifests.get(cache_key) if listed.etag else None
        if data is None:
            data = self._read_manifest(number)
            if data is None:  # deleted since the listing
                return assess_version(number, {}, None), None
            if listed.etag:
                self._manifests[cache_key] = data
        return assess_version(number, objects, data), data

    def _read_manifest(self, number: int) -> bytes | None:
        from botocore.exceptions import ClientError

        key = self.uri.key(number, MANIFEST_NAME)
        with translated_errors(f"reading {key}", self.uri.bucket):
            try:
                body = self.client.get_object(Bucket=self.uri.bucket, Key=key)["Body"]
                return body.read(_MAX_MANIFEST_BYTES + 1)
            except ClientError as err:
                if client_error_code(err)[1] == 404:
                    return None
                raise

    # -- publish --------------------------------------------------------------------------

    def push(
        self,
        model_dir: Path | str,
        version: int | None = None,
        metrics: Mapping[str, float] | None = None,
        created_by: Mapping[str, str] | None = None,
        progress: TransferProgress | None = None,
        model: ModelInfo | None = None,
        baseline: Baseline | None = None,
        derived_from: DerivedFrom | None = None,
    ) -> VersionInfo:
        """Publish `model_dir` as `version` (default: highest existing + 1). The SavedModel
        is loaded and checked first unless the caller passes what it knows (`model`).
        `baseline`, the training inputs' distribution, goes into the manifest for drift.
        Files go up in parallel and the manifest last, conditionally, so an existing
        version is never overwritten (VersionExists). A folder left without a manifest by
        a failed upload may be published again under its number. `derived_from` marks a
        version converted from another (`modelship optimize`)."""
        model_dir = Path(model_dir)
        files = _model_files(model_dir)
        model = model or inspect_saved_model(model_dir)
        listing = self._list(self.uri.model_prefix, "choosing the version number")
        number = next_version(listing) if version is None else version
        if number < 0:
            raise ValueError(f"a version number is 0 or more, not {number}")
        if MANIFEST_NAME in listing.get(number, {}):
            raise _version_exists(self.uri, number)
        sizes = [(model_dir / path).stat().st_size for path in files]
        digests = hash_files([model_dir / path for path in files], self.tuning.concurrency)
        items = [
            UploadItem(
                source=model_dir / path, key=self.uri.key(number, path), size=size, sha256=sha256
            )
            for path, size, sha256 in zip(files, sizes, digests, strict=True)
        ]
        with translated_errors(f"uploading version {number} to {self.uri}", self.uri.bucket):
            etags = upload_files(self.client, self.uri.bucket, items, self.tuning, progress)
        manifest = Manifest(
            version=number,
            files=tuple(
                ManifestFile(path=path, size=size, sha256=sha256, etag=etags[item.key])
                for path, size, sha256, item in zip(files, sizes, digests, items, strict=True)
            ),
            framework=model.framework,
            framework_version=model.framework_version,
            signatures=model.signatures,
            created=rfc3339(self.clock()),
            created_by={"tool": _TOOL, **(created_by or {})},
            metrics={name: float(value) for name, value in (metrics or {}).items()},
            baseline=baseline,
            derived_from=derived_from,
        )
        data = manifest.to_json()
        self._put_manifest(number, data)
        return assess_version(
            number,
            {f.path: ListedObject(f.path, f.size, f.etag or "") for f in manifest.files},
            data,
        )

    def _put_manifest(self, number: int, data: bytes) -> None:
        key = self.uri.key(number, MANIFEST_NAME)
        from botocore.exceptions import ClientError

        with translated_errors(f"writing {key}", self.uri.bucket):
            try:
                # Only one publisher of a version number may win, even when two race.
                self.client.put_object(
                    Bucket=self.uri.bucket,
                    Key=key,
                    Body=data,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
                return
            except ClientError as err:
                code, status = client_error_code(err)
                if status in (409, 412) or code in (
                    "PreconditionFailed",
                    "ConditionalRequestConflict",
                ):
                    raise _version_exists(self.uri, number) from None
                if status != 501 and code != "NotImplemented":
                    raise
            # A store without conditional writes: the check before the upload is all we have.
            if self._exists(key):
                raise _version_exists(self.uri, number)
            self.client.put_object(
                Bucket=self.uri.bucket, Key=key, Body=data, ContentType="application/json"
            )

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.uri.bucket, Key=key)
        except ClientError as err:
            if client_error_code(err)[1] == 404:
                return False
            raise
        return True

    # -- pull -----------------------------------------------------------------------------

    def pull(
        self,
        version: int | Literal["latest"],
        dest: Path | str,
        progress: TransferProgress | None = None,
    ) -> VersionInfo:
        """Download one version into `dest`, verifying every byte. The files land in a
        temporary folder next to `dest` that is renamed into place only when all is
        verified, so `dest` never holds a partial or damaged copy. A `dest` that already
        holds this version, verified, is left as it is."""
        dest = Path(dest)
        info, data = self._resolve(version)
        manifest = info.manifest
        assert manifest is not None and data is not None  # complete versions have both
        if _holds_copy(dest, data, manifest, self.tuning.concurrency):
            return info
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.pull-"))
        try:
            items = [
                DownloadItem(
                    key=self.uri.key(info.number, entry.path),
                    target=_inside(staging, entry.path),
                    size=entry.size,
                    sha256=entry.sha256,
                )
                for entry in manifest.files
            ]
            with translated_errors(
                f"downloading version {info.number} of {self.uri}", self.uri.bucket
            ):
                download_files(self.client, self.uri.bucket, items, self.tuning, progress)
            (staging / MANIFEST_NAME).write_bytes(data)
            staging.chmod(0o755)  # mkdtemp's 0700 would hide it from a server running as
            _install(staging, dest)  # another user of the pod
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return info

    def _resolve(self, version: int | Literal["latest"]) -> tuple[VersionInfo, bytes | None]:
        if version == "latest":
            listing = self._list(self.uri.model_prefix, "finding the latest version")
            # Newest first, stopping at the first complete one: older manifests are not read.
            chosen = next(
                (
                    info
                    for info in (self._assess(n, listing[n])[0] for n in sorted(listing)[::-1])
                    if info.state == "complete"
                ),
                None,
            )
            if chosen is None:
                raise ArtifactError(
                    VERSION_NOT_FOUND,
                    f"no complete version under {self.uri} "
                    f"({len(listing)} version folder(s), none with a valid manifest).",
                )
            version = chosen.number
        info, data = self._check(version)
        if info.state != "complete":
            raise ArtifactError(info.reason or MANIFEST_INVALID, info.message or "")
        return info, data


def _version_exists(uri: StorageUri, number: int) -> ArtifactError:
    return ArtifactError(
        VERSION_EXISTS,
        f"version {number} of {uri} is already published; versions are never overwritten, "
        "so publish a new one (omit --version to get the next number).",
    )


def _with_problem(info: VersionInfo, reason: str, message: str) -> VersionInfo:
    return VersionInfo(
        number=info.number,
        state="corrupt",
        manifest=info.manifest,
        digest=info.digest,
        size=info.size,
        created=info.created,
        metrics=info.metrics,
        reason=reason,
        message=message,
    )


def _model_files(model_dir: Path) -> list[str]:
    """The relative paths to publish, sorted; links are refused (S3 has none, and one could
    point anywhere on the publisher's disk)."""
    if not model_dir.is_dir():
        raise ArtifactError(INVALID_MODEL, f"{model_dir} is not a directory.")
    paths: list[str] = []
    for root, dirs, names in os.walk(model_dir):
        for name in dirs + names:
            full = Path(root) / name
            if full.is_symlink():
                raise ArtifactError(
                    UNSAFE_KEY, f"{full} is a symbolic link; publish a folder of plain files."
                )
        for name in names:
            relative = (Path(root) / name).relative_to(model_dir).as_posix()
            if relative != MANIFEST_NAME:  # a pulled copy carries its old manifest
                paths.append(safe_relative_path(relative))
    if not paths:
        raise ArtifactError(INVALID_MODEL, f"{model_dir} has no files to publish.")
    return sorted(paths)


def _inside(folder: Path, relative: str) -> Path:
    """`folder/relative`, refusing anything that would land outside `folder`."""
    target = folder / safe_relative_path(relative)
    if not target.resolve().is_relative_to(folder.resolve()):
        raise ArtifactError(UNSAFE_KEY, f"refusing {relative!r}: it resolves outside {folder}.")
    return target


def _holds_copy(dest: Path, data: bytes, manifest: Manifest, concurrency: int) -> bool:
    """True when `dest` holds exactly this version: the same manifest bytes, the same
    files, each with its sha256 (hashing local files is far cheaper than downloading)."""
    try:
        if (dest / MANIFEST_NAME).read_bytes() != data:
            return False
        present = {
            p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() or p.is_symlink()
        } - {MANIFEST_NAME}
        expected = {f.path: f for f in manifest.files}
        if present != set(expected) or any((dest / p).is_symlink() for p in present):
            return False
        paths = sorted(expected)
        if any((dest / p).stat().st_size != expected[p].size for p in paths):
            return False
        digests = hash_files([dest / p for p in paths], concurrency)
    except OSError:
        return False
    return all(d == expected[p].sha256 for p, d in zip(paths, digests, strict=True))


def _install(staging: Path, dest: Path) -> None:
    """Move the verified folder to `dest`, replacing what was there."""
    if not dest.exists():
        staging.rename(dest)
        return
    if dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir()):
        try:
            staging.rename(dest)  # rename(2) replaces an empty directory...
        except OSError as err:
            if err.errno not in (errno.EBUSY, errno.EXDEV):
                raise
            # ...but not a mount point (an emptyDir volume mounted at dest): move the
            # verified entries into it instead.
            for entry in staging.iterdir():
                entry.rename(dest / entry.name)
            staging.rmdir()
        return
    aside = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old-"))
    aside.rmdir()
    dest.rename(aside)
    staging.rename(dest)
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink()
