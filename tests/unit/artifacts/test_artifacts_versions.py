"""A version's state from one listing and its manifest: the operator's cheap check."""

from __future__ import annotations

import pytest

from modelship.artifacts import (
    Manifest,
    ManifestFile,
    VersionInfo,
    assess_version,
    latest_complete,
    manifest_digest,
)
from modelship.artifacts.versions import ListedObject

SHA = "ab" * 32


def published(version: int = 2) -> Manifest:
    return Manifest(
        version=version,
        files=(
            ManifestFile("saved_model.pb", 100, SHA, "e1"),
            ManifestFile("variables/variables.index", 20, SHA, "e2-2"),
        ),
        framework="tensorflow",
        framework_version="2.21.0",
        signatures=(),
        created="2025-05-01T12:00:00Z",
        metrics={"accuracy": 0.9},
    )


def listing(*objects: tuple[str, int, str]) -> dict[str, ListedObject]:
    return {path: ListedObject(path, size, etag) for path, size, etag in objects}


AS_PUBLISHED = listing(
    ("saved_model.pb", 100, "e1"),
    ("variables/variables.index", 20, "e2-2"),
    ("modelship.json", 700, "m"),
)


def test_a_version_as_published_is_complete() -> None:
    data = published().to_json()
    info = assess_version(2, AS_PUBLISHED, data)
    assert info.state == "complete"
    assert info.reason is None
    assert info.digest == manifest_digest(data)
    assert info.size == 120
    assert info.metrics == {"accuracy": 0.9}
    assert info.created == "2025-05-01T12:00:00Z"


def test_quoted_etags_compare_equal() -> None:
    quoted = listing(("saved_model.pb", 100, '"e1"'), ("variables/variables.index", 20, "e2-2"))
    assert assess_version(2, quoted, published().to_json()).state == "complete"


def test_no_manifest_means_incomplete() -> None:
    info = assess_version(2, listing(("saved_model.pb", 100, "e1")), None)
    assert info.state == "incomplete"
    assert info.reason == "ManifestMissing"
    assert info.digest is None
    assert info.size == 100


def test_extra_files_do_not_matter() -> None:
    extra = {**AS_PUBLISHED, "notes.txt": ListedObject("notes.txt", 5, "x")}
    assert assess_version(2, extra, published().to_json()).state == "complete"


@pytest.mark.parametrize(
    ("objects", "reason", "words"),
    [
        (listing(("saved_model.pb", 100, "e1")), "SizeMismatch", "missing"),
        (
            listing(("saved_model.pb", 99, "e1"), ("variables/variables.index", 20, "e2-2")),
            "SizeMismatch",
            "99 bytes",
        ),
        (
            listing(("saved_model.pb", 100, "e9"), ("variables/variables.index", 20, "e2-2")),
            "ChecksumMismatch",
            "replaced after",
        ),
    ],
)
def test_a_listing_that_disagrees_is_corrupt(
    objects: dict[str, ListedObject], reason: str, words: str
) -> None:
    info = assess_version(2, objects, published().to_json())
    assert info.state == "corrupt"
    assert info.reason == reason
    assert info.message is not None and words in info.message


def test_a_manifest_in_the_wrong_folder_is_corrupt() -> None:
    info = assess_version(5, AS_PUBLISHED, published(version=2).to_json())
    assert (info.state, info.reason) == ("corrupt", "ManifestInvalid")


def test_an_unreadable_manifest_is_corrupt_with_its_reason() -> None:
    info = assess_version(2, AS_PUBLISHED, b"{oops")
    assert (info.state, info.reason) == ("corrupt", "ManifestInvalid")
    assert info.digest is not None  # the bytes exist, so they still have a digest


def test_a_manifest_without_etags_checks_sizes_only() -> None:
    manifest = published()
    plain = Manifest(
        **{
            **manifest.__dict__,
            "files": tuple(ManifestFile(f.path, f.size, f.sha256, None) for f in manifest.files),
        }
    )
    objects = listing(("saved_model.pb", 100, "other"), ("variables/variables.index", 20, "x"))
    assert assess_version(2, objects, plain.to_json()).state == "complete"


def info(number: int, state: str) -> VersionInfo:
    return VersionInfo(number, state, None, None, 0, None)  # type: ignore[arg-type]


def test_latest_skips_incomplete_and_corrupt_versions() -> None:
    versions = [info(1, "complete"), info(2, "complete"), info(3, "corrupt"), info(4, "incomplete")]
    chosen = latest_complete(versions)
    assert chosen is not None and chosen.number == 2


def test_latest_of_nothing_complete_is_none() -> None:
    assert latest_complete([info(1, "incomplete")]) is None
    assert latest_complete([]) is None
