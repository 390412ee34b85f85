"""Which version serves: pinned or newest complete; every reason it cannot."""

from __future__ import annotations

import pytest

from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.versions import (
    choose_target,
    recent_versions,
    resolve_target_version,
)
from tests.unit.reconcile.builders import (
    ModelDeploymentBuilder,
    model_deployment,
    target,
    version,
)

CORRUPT_3 = version(
    3,
    "corrupt",
    reason="ChecksumMismatch",
    message="version 3: saved_model.pb was replaced after the version was published.",
)
SIZE_2 = version(2, "corrupt", reason="SizeMismatch", message="version 2: x is 1 byte.")
UNPINNED = model_deployment()


@pytest.mark.parametrize(
    ("md", "versions", "number", "reason", "words"),
    [
        pytest.param(UNPINNED, [version(1), version(2)], 2, None, None, id="newest"),
        pytest.param(
            UNPINNED,
            [version(1), version(2), version(3, "incomplete")],
            2,
            None,
            None,
            id="incomplete-newest-ignored",
        ),
        pytest.param(
            UNPINNED,
            [version(1), version(2), CORRUPT_3],
            2,
            "ChecksumMismatch",
            "Version 2, the newest sound version, is served instead",
            id="corrupt-newest-reported",
        ),
        pytest.param(
            UNPINNED,
            [version(1), CORRUPT_3, version(4)],
            4,
            None,
            None,
            id="older-corrupt-irrelevant",
        ),
        pytest.param(
            UNPINNED,
            [],
            None,
            "NoVersions",
            "no complete version under s3://models/digits",
            id="none-at-all",
        ),
        pytest.param(
            UNPINNED,
            [version(1, "incomplete")],
            None,
            "NoVersions",
            "version 1 has no manifest yet",
            id="only-incomplete",
        ),
        pytest.param(
            UNPINNED,
            [SIZE_2, CORRUPT_3],
            None,
            "ChecksumMismatch",
            "version 3",
            id="only-corrupt",
        ),
        pytest.param(
            model_deployment().pinned(1),
            [version(1), version(2)],
            1,
            None,
            None,
            id="pinned-older",
        ),
        pytest.param(
            model_deployment().pinned(7),
            [version(1), version(2)],
            None,
            "VersionNotFound",
            "version 7 of s3://models/digits does not exist; versions found: 1, 2",
            id="pinned-missing",
        ),
        pytest.param(
            model_deployment().pinned(7),
            [],
            None,
            "VersionNotFound",
            "versions found: none",
            id="pinned-missing-empty-store",
        ),
        pytest.param(
            model_deployment().pinned(2),
            [version(1), version(2, "incomplete")],
            None,
            "ManifestMissing",
            "version 2 of s3://models/digits has no manifest",
            id="pinned-incomplete",
        ),
        pytest.param(
            model_deployment().pinned(3),
            [version(1), CORRUPT_3],
            None,
            "ChecksumMismatch",
            "saved_model.pb was replaced",
            id="pinned-checksum",
        ),
        pytest.param(
            model_deployment().pinned(2),
            [SIZE_2],
            None,
            "SizeMismatch",
            "x is 1 byte",
            id="pinned-size",
        ),
    ],
)
def test_resolve_target_version(
    md: ModelDeploymentBuilder,
    versions: list[VersionInfo],
    number: int | None,
    reason: str | None,
    words: str | None,
) -> None:
    resolution = resolve_target_version(md.spec(), versions, None)
    assert resolution.target == (target(number) if number is not None else None)
    if reason is None:
        assert resolution.problem is None
    else:
        assert resolution.problem is not None
        assert resolution.problem.reason == reason
        assert words is not None and words in resolution.problem.message


def test_messages_say_what_keeps_serving() -> None:
    resolution = resolve_target_version(model_deployment().pinned(9).spec(), [version(2)], 2)
    assert resolution.problem is not None
    assert resolution.problem.message.endswith("Version 2 keeps serving.")


@pytest.mark.parametrize(
    ("versions", "pinned", "needs_person"),
    [
        ([], None, False),  # waiting for the first version (push or training)
        ([version(1, "incomplete")], 1, False),  # an upload may still be under way
        ([version(1)], 4, True),
        ([CORRUPT_3], 3, True),
    ],
)
def test_which_problems_need_a_person(
    versions: list[VersionInfo], pinned: int | None, needs_person: bool
) -> None:
    md = model_deployment() if pinned is None else model_deployment().pinned(pinned)
    problem = resolve_target_version(md.spec(), versions).problem
    assert problem is not None and problem.needs_person is needs_person


def test_recent_versions_newest_five_oldest_first() -> None:
    versions = [version(n, metrics={"accuracy": 0.9}) for n in range(1, 8)] + [CORRUPT_3]
    entries = recent_versions([v for v in versions if v.number != 3] + [CORRUPT_3])
    assert [e["number"] for e in entries] == [3, 4, 5, 6, 7]
    assert entries[0] == {
        "number": 3,
        "state": "corrupt",
        "digest": version(3).digest,
        "created": "2025-04-03T00:00:00Z",
        "metrics": {},
        "reason": "ChecksumMismatch",
        "message": CORRUPT_3.message,
    }
    assert entries[-1]["metrics"] == {"accuracy": 0.9}
    assert "reason" not in entries[-1]


@pytest.mark.parametrize(
    ("error", "artifact_status", "needs_person"),
    [
        (
            ArtifactError("StorageUnavailable", "could not reach http://minio:9000."),
            "Unknown",
            False,
        ),
        (ArtifactError("AccessDenied", "the store refused the credentials."), "False", True),
        (ArtifactError("SecretNotFound", "Secret ml/s3-creds does not exist."), "False", True),
        (ArtifactError("BucketNotFound", "bucket models does not exist."), "False", True),
    ],
)
def test_an_unreadable_store_keeps_the_deployed_version(
    error: ArtifactError, artifact_status: str, needs_person: bool
) -> None:
    choice = choose_target(UNPINNED.spec(), error, deployed=target(2), current_version=2)
    assert choice.deploy == target(2)  # spec changes still apply; the version does not move
    assert choice.number == 2
    assert choice.artifact_status == artifact_status
    assert choice.blocking is not None and choice.blocking.reason == error.reason
    assert choice.blocking.needs_person is needs_person
    assert choice.versions is None  # the previous list stays


def test_an_unreadable_store_before_anything_is_deployed() -> None:
    error = ArtifactError("StorageUnavailable", "could not reach the store.")
    choice = choose_target(
        model_deployment().pinned(4).spec(), error, deployed=None, current_version=None
    )
    assert choice.deploy is None
    assert choice.number == 4
