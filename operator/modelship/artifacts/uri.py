"""Storage URIs (`s3://bucket/prefix/model`) and the keys of a model's version folders."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelship.api.spec import STORAGE_URI_HINT
from modelship.artifacts.errors import INVALID_STORAGE_URI, ArtifactError

# S3's rules for bucket names (the subset every S3-compatible server accepts).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class StorageUri:
    """Where a model's versions live: integer folders `1/`, `2/` ... under `prefix`."""

    bucket: str
    prefix: str  # no leading or trailing slash; "" for the bucket's root

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def model_prefix(self) -> str:
        """The key prefix every version folder starts with ("" or "prefix/")."""
        return f"{self.prefix}/" if self.prefix else ""

    def version_prefix(self, version: int) -> str:
        """The key prefix of one version folder, ending with "/"."""
        return f"{self.model_prefix}{version}/"

    def key(self, version: int, path: str) -> str:
        """The object key of `path` (relative, POSIX) inside a version folder."""
        return f"{self.version_prefix(version)}{path}"


def parse_storage_uri(uri: str) -> StorageUri:
    """Parse `s3://bucket[/prefix...]`; a trailing slash is allowed."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme != "s3":
        raise ArtifactError(
            INVALID_STORAGE_URI, f"{uri!r} is not an S3 URI; write it as s3://bucket/prefix/model."
        )
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ArtifactError(
            INVALID_STORAGE_URI,
            f"{bucket!r} in {uri!r} is not a valid bucket name "
            "(3-63 lowercase letters, digits, dots and hyphens).",
        )
    # One trailing slash is allowed; any other empty segment (s3://models//x) is refused,
    # as the CRD's pattern refuses it, rather than quietly dropped.
    if prefix.endswith("/"):
        prefix = prefix[:-1]
        if not prefix:  # s3://models//
            raise _bad_path(uri)
    if prefix:
        for segment in prefix.split("/"):
            if segment in ("", ".", "..") or "\\" in segment or "\x00" in segment:
                raise _bad_path(uri)
    return StorageUri(bucket=bucket, prefix=prefix)


def _bad_path(uri: str) -> ArtifactError:
    return ArtifactError(INVALID_STORAGE_URI, f'"{uri}" must look like {STORAGE_URI_HINT}.')
