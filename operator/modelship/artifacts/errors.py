"""The one error type of the artifact store, and the reason words it carries.

A reason is a CamelCase word a script (or the operator's status conditions) can switch on;
the message is a sentence a person can act on.
"""

from __future__ import annotations

from typing import Final

INVALID_STORAGE_URI: Final = "InvalidStorageUri"
BUCKET_NOT_FOUND: Final = "BucketNotFound"
ACCESS_DENIED: Final = "AccessDenied"
STORAGE_UNAVAILABLE: Final = "StorageUnavailable"
STORAGE_TLS_FAILED: Final = "StorageTLSFailed"
VERSION_NOT_FOUND: Final = "VersionNotFound"
MANIFEST_MISSING: Final = "ManifestMissing"
MANIFEST_INVALID: Final = "ManifestInvalid"
CHECKSUM_MISMATCH: Final = "ChecksumMismatch"
SIZE_MISMATCH: Final = "SizeMismatch"
UNSAFE_KEY: Final = "UnsafeKey"
VERSION_EXISTS: Final = "VersionExists"
INVALID_MODEL: Final = "InvalidModel"


class ArtifactError(Exception):
    """Something about a model's artifacts that a person has to look at."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
