"""A version's state, decided from one listing and its manifest, without reading model files.

This is the cheap check the operator relies on: every file the manifest lists is present,
with its size and with the ETag the store reported when the version was published, so an
object replaced after publishing is caught before any pod is asked to load it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from modelship.artifacts.errors import (
    CHECKSUM_MISMATCH,
    MANIFEST_INVALID,
    MANIFEST_MISSING,
    SIZE_MISMATCH,
    ArtifactError,
)
from modelship.artifacts.manifest import MANIFEST_NAME, Manifest, manifest_digest

VersionState = Literal["complete", "incomplete", "corrupt"]


@dataclass(frozen=True)
class ListedObject:
    """One object of a version folder as the store lists it."""

    path: str  # relative to the version folder, as stored (not yet checked for safety)
    size: int
    etag: str  # without quotes


@dataclass(frozen=True)
class VersionInfo:
    """What is known about one version folder; `reason`/`message` explain a non-complete state."""

    number: int
    state: VersionState
    manifest: Manifest | None
    digest: str | None
    size: int
    created: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    message: str | None = None


def normalize_etag(etag: str | None) -> str:
    """ETags come quoted in headers and listings; compare them without the quotes."""
    return (etag or "").strip().strip('"')


def assess_version(
    number: int, listing: Mapping[str, ListedObject], manifest_bytes: bytes | None
) -> VersionInfo:
    """Decide a version's state from its folder's listing and its manifest's bytes (None when
    the listing holds no manifest)."""
    size = sum(o.size for o in listing.values() if o.path != MANIFEST_NAME)
    if manifest_bytes is None:
        return VersionInfo(
            number=number,
            state="incomplete",
            manifest=None,
            digest=None,
            size=size,
            created=None,
            reason=MANIFEST_MISSING,
            message=f"version {number} has no {MANIFEST_NAME}: its upload is unfinished "
            "or failed, so it is never deployed.",
        )
    digest = manifest_digest(manifest_bytes)
    try:
        manifest = Manifest.from_json(manifest_bytes)
    except ArtifactError as err:
        return VersionInfo(
            number=number,
            state="corrupt",
            manifest=None,
            digest=digest,
            size=size,
            created=None,
            reason=err.reason,
            message=f"version {number}: {err.message}",
        )
    problem = _listing_problem(number, manifest, listing)
    return VersionInfo(
        number=number,
        state="corrupt" if problem else "complete",
        manifest=manifest,
        digest=digest,
        size=manifest.size,
        created=manifest.created,
        metrics=dict(manifest.metrics),
        reason=problem[0] if problem else None,
        message=problem[1] if problem else None,
    )


def _listing_problem(
    number: int, manifest: Manifest, listing: Mapping[str, ListedObject]
) -> tuple[str, str] | None:
    if manifest.version != number:
        return (
            MANIFEST_INVALID,
            f"the manifest in folder {number}/ says it is version {manifest.version}.",
        )
    for entry in manifest.files:
        listed = listing.get(entry.path)
        if listed is None:
            # A missing file is the extreme case of a wrong size: the contract's reason.
            return (
                SIZE_MISMATCH,
                f"version {number}: {entry.path} is listed in the manifest but missing "
                "from the store.",
            )
        if listed.size != entry.size:
            return (
                SIZE_MISMATCH,
                f"version {number}: {entry.path} is {listed.size} bytes in the store but "
                f"{entry.size} bytes in the manifest.",
            )
        if entry.etag is not None and normalize_etag(listed.etag) != normalize_etag(entry.etag):
            return (
                CHECKSUM_MISMATCH,
                f"version {number}: {entry.path} was replaced after the version was "
                "published (its ETag changed).",
            )
    return None


def latest_complete(versions: Iterable[VersionInfo]) -> VersionInfo | None:
    """The newest complete version; incomplete and corrupt ones are skipped."""
    complete = [v for v in versions if v.state == "complete"]
    return max(complete, key=lambda v: v.number, default=None)
