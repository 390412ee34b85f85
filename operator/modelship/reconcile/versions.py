"""Which version to serve, decided from the store's listing: a pinned version if it is
there and sound, otherwise the newest complete (verified) version.

The policy for an unpinned model whose newest version is corrupt: the newest *complete*
version is still the target and keeps serving (a bad upload never takes a good model off the
air), and the corrupt one is reported (ArtifactReady False with its reason) so a person sees it.
Incomplete versions (no manifest yet: an upload in progress or abandoned) are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from modelship.api import ModelDeploymentSpec, VersionStatus
from modelship.api.reasons import (
    NO_VERSIONS,
    VERIFIED,
)
from modelship.artifacts.errors import (
    MANIFEST_INVALID,
    MANIFEST_MISSING,
    STORAGE_UNAVAILABLE,
    VERSION_NOT_FOUND,
    ArtifactError,
)
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.findings import Finding
from modelship.reconcile.gate import GatedVersions, gate_versions

RECENT_VERSIONS: Final = 5


@dataclass(frozen=True)
class TargetVersion:
    """The version the serving pods should run."""

    number: int
    digest: str


@dataclass(frozen=True)
class VersionResolution:
    """The outcome of `resolve_target_version`.

    `problem` without a target: nothing can be served yet (ArtifactReady False; the reason
    says why). `problem` with a target: the target is sound, but a newer version is corrupt
    (reported, while the target serves).
    """

    target: TargetVersion | None
    problem: Finding | None = None


def resolve_target_version(
    spec: ModelDeploymentSpec,
    versions: Sequence[VersionInfo],
    current_version: int | None = None,
) -> VersionResolution:
    """Choose the version to serve from the listing (`ArtifactStore.list_versions()`).

    `current_version` (the version serving now, if any) only makes the messages say what
    keeps serving while the problem lasts.
    """
    uri = spec.model.storage_uri
    keeps = f" Version {current_version} keeps serving." if current_version is not None else ""
    by_number = {v.number: v for v in versions}
    if spec.model.version is not None:
        return _pinned(spec.model.version, by_number, uri, keeps)

    complete = [v for v in versions if v.state == "complete" and v.digest]
    newest_good = max(complete, key=lambda v: v.number, default=None)
    corrupt = [v for v in versions if v.state == "corrupt"]
    newest_corrupt = max(corrupt, key=lambda v: v.number, default=None)

    if newest_good is None:
        if newest_corrupt is not None:
            return VersionResolution(None, _corrupt(newest_corrupt, uri, keeps))
        waiting = sorted(v.number for v in versions if v.state == "incomplete")
        detail = (
            f" (version{'s' if len(waiting) > 1 else ''} {_numbers(waiting)} "
            "has no manifest yet: its upload is unfinished)"
            if waiting
            else ""
        )
        return VersionResolution(
            None,
            Finding(
                NO_VERSIONS,
                f"no complete version under {uri} yet{detail}; publish one with "
                f"`modelship push` or let training produce one.{keeps}",
                needs_person=False,
            ),
        )

    target = TargetVersion(newest_good.number, newest_good.digest or "")
    if newest_corrupt is not None and newest_corrupt.number > newest_good.number:
        return VersionResolution(
            target,
            _corrupt(
                newest_corrupt,
                uri,
                f" Version {newest_good.number}, the newest sound version, is served instead.",
            ),
        )
    return VersionResolution(target)


def _pinned(
    number: int, by_number: dict[int, VersionInfo], uri: str, keeps: str
) -> VersionResolution:
    info = by_number.get(number)
    if info is None:
        found = _numbers(sorted(by_number)) if by_number else "none"
        return VersionResolution(
            None,
            Finding(
                VERSION_NOT_FOUND,
                f"version {number} of {uri} does not exist; versions found: {found}. "
                f"Fix spec.model.version or publish version {number}.{keeps}",
            ),
        )
    if info.state == "incomplete":
        # Often an upload still under way (a GitOps change can land before CI's upload ends),
        # so this waits rather than stalls; it is deployed as soon as the manifest appears.
        return VersionResolution(
            None,
            Finding(
                MANIFEST_MISSING,
                f"version {number} of {uri} has no manifest (modelship.json) yet: its upload "
                f"is unfinished or failed, and it is deployed once the manifest is written.{keeps}",
                needs_person=False,
            ),
        )
    if info.state == "corrupt" or not info.digest:
        return VersionResolution(None, _corrupt(info, uri, keeps))
    return VersionResolution(TargetVersion(number, info.digest))


def _corrupt(info: VersionInfo, uri: str, then: str) -> Finding:
    detail = (info.message or f"version {info.number} does not match its manifest").rstrip(".")
    return Finding(
        info.reason or MANIFEST_INVALID,
        f"{uri}: {detail}; a version that fails its check is never served: publish it again "
        f"as a new version.{then}",
    )


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def recent_versions(
    versions: Sequence[VersionInfo], limit: int = RECENT_VERSIONS
) -> list[dict[str, Any]]:
    """`status.versions`: the newest `limit` versions seen, oldest first (the CRD's order)."""
    newest = sorted(versions, key=lambda v: v.number)[-limit:] if limit > 0 else []
    return [
        VersionStatus(
            number=info.number,
            state=info.state,
            digest=info.digest,
            created=info.created,
            metrics=dict(sorted(info.metrics.items())),
            reason=info.reason,
            message=info.message,
        ).to_dict()
        for info in newest
    ]


@dataclass(frozen=True)
class TargetChoice:
    """Everything the rest of a reconcile needs to know about versions, from one observation
    of the store (`choose_target`)."""

    deploy: TargetVersion | None
    """The version the serving Deployment should run now; None leaves it as it is (or makes
    none yet)."""
    number: int | None
    """`status.targetVersion`: the version the spec asks for, even while it cannot be served."""
    artifact_status: str
    """The ArtifactReady condition: "True", "False" or "Unknown" ..."""
    artifact: Finding
    """... and its reason and message."""
    blocking: Finding | None = None
    """What keeps `number` from being served (None: nothing on the artifacts' side)."""
    advisory: Finding | None = None
    """A newer version that fails its check while the target serves."""
    versions: list[dict[str, Any]] | None = None
    """`status.versions`; None keeps the previous list (the store could not be listed)."""


def choose_target(
    spec: ModelDeploymentSpec,
    artifacts: Sequence[VersionInfo] | ArtifactError,
    *,
    deployed: TargetVersion | None,
    current_version: int | None,
) -> TargetChoice:
    """Decide the target from the store's listing, or from what is deployed when the store
    could not be read (`artifacts` is then the error; a missing Secret is SecretNotFound).

    While the store cannot be read, the Deployment keeps the version it runs (`deployed`), so
    spec changes such as replicas still apply but no version changes blindly.
    """
    if isinstance(artifacts, ArtifactError):
        transient = artifacts.reason == STORAGE_UNAVAILABLE
        problem = Finding(artifacts.reason, artifacts.message, needs_person=not transient)
        number = spec.model.version if spec.model.version is not None else None
        if number is None and deployed is not None:
            number = deployed.number
        return TargetChoice(
            deploy=deployed,
            number=number,
            artifact_status="Unknown" if transient else "False",
            artifact=problem,
            blocking=problem,
        )
    # The training gate holds back newer versions whose metrics do not qualify; they are
    # listed in status.versions like any other, but never become the target.
    gated = gate_versions(spec, artifacts, current_version)
    resolution = resolve_target_version(spec, gated.deployable, current_version)
    versions = recent_versions(artifacts)
    target = resolution.target
    held_back = _gate_finding(gated, target)
    if target is None:
        why = held_back or resolution.problem
        assert why is not None
        return TargetChoice(
            deploy=None,
            number=spec.model.version,
            artifact_status="False",
            artifact=why,
            blocking=why,
            versions=versions,
        )
    if held_back is not None and resolution.problem is None:
        return TargetChoice(
            deploy=target,
            number=target.number,
            artifact_status="True",
            artifact=_verified(spec, target),
            advisory=held_back,
            versions=versions,
        )
    if resolution.problem is not None:
        return TargetChoice(
            deploy=target,
            number=target.number,
            artifact_status="False",
            artifact=resolution.problem,
            advisory=resolution.problem,
            versions=versions,
        )
    return TargetChoice(
        deploy=target,
        number=target.number,
        artifact_status="True",
        artifact=_verified(spec, target),
        versions=versions,
    )


def _verified(spec: ModelDeploymentSpec, target: TargetVersion) -> Finding:
    return Finding(
        VERIFIED,
        f"version {target.number} of {spec.model.storage_uri} ({target.digest}) is "
        "complete and its files match its manifest.",
        needs_person=False,
    )


def _gate_finding(gated: GatedVersions, target: TargetVersion | None) -> Finding | None:
    """The newest version the gate held back, when it is newer than what will serve."""
    newer = [n for n in gated.rejected if target is None or n > target.number]
    if not newer:
        return None
    decision = gated.rejected[max(newer)]
    then = f" Version {target.number} keeps serving." if target is not None else ""
    return Finding(
        decision.reason, decision.message + then, needs_person=target is None, version=max(newer)
    )
