"""The one error type of the artifact store, and the reason words it carries.

A reason is a CamelCase word a script (or the operator's status conditions) can switch on;
the message is a sentence a person can act on.
"""

from __future__ import annotations

# The reasons this error carries, defined (with what a person should do) in api/reasons.py.
from modelship.api.reasons import (
    ACCESS_DENIED,
    BUCKET_NOT_FOUND,
    CHECKSUM_MISMATCH,
    INVALID_MODEL,
    INVALID_STORAGE_URI,
    MANIFEST_INVALID,
    MANIFEST_MISSING,
    SIZE_MISMATCH,
    STORAGE_TLS_FAILED,
    STORAGE_UNAVAILABLE,
    UNSAFE_KEY,
    VERSION_EXISTS,
    VERSION_NOT_FOUND,
)


class ArtifactError(Exception):
    """Something about a model's artifacts that a person has to look at."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


__all__ = [
    "ACCESS_DENIED",
    "BUCKET_NOT_FOUND",
    "CHECKSUM_MISMATCH",
    "INVALID_MODEL",
    "INVALID_STORAGE_URI",
    "MANIFEST_INVALID",
    "MANIFEST_MISSING",
    "SIZE_MISMATCH",
    "STORAGE_TLS_FAILED",
    "STORAGE_UNAVAILABLE",
    "UNSAFE_KEY",
    "VERSION_EXISTS",
    "VERSION_NOT_FOUND",
    "ArtifactError",
]
