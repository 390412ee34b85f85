"""The version layout: key safety, version folders, the next version number."""

from __future__ import annotations

import pytest

from modelship.artifacts import (
    ArtifactError,
    next_version,
    safe_relative_path,
    split_version_key,
)


@pytest.mark.parametrize(
    "path",
    ["saved_model.pb", "variables/variables.index", "assets/vocab.txt", "a..b/c..", ".hidden"],
)
def test_paths_inside_the_folder_are_accepted(path: str) -> None:
    assert safe_relative_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "../../x",
        "..",
        "a/../../b",
        "variables/..",
        "/etc/passwd",
        "C:evil",
        "a\\..\\b",
        "a//b",
        "./a",
        "a/",
        "",
        "a\x00b",
        "x" * 1025,
    ],
)
def test_paths_that_could_escape_are_refused(path: str) -> None:
    with pytest.raises(ArtifactError) as caught:
        safe_relative_path(path)
    assert caught.value.reason == "UnsafeKey"
    assert repr(path)[:40].strip("'") in caught.value.message


@pytest.mark.parametrize(
    ("prefix", "key", "expected"),
    [
        ("m/", "m/3/saved_model.pb", (3, "saved_model.pb")),
        ("m/", "m/12/variables/variables.index", (12, "variables/variables.index")),
        ("m/", "m/0/a", (0, "a")),
        ("", "7/a", (7, "a")),
        ("m/", "m/03/a", None),  # not the canonical spelling: TF Serving would also see 3
        ("m/", "m/x/a", None),
        ("m/", "m/3", None),
        ("m/", "m/3/", None),
        ("m/", "other/3/a", None),
        ("m/", "m/-1/a", None),
    ],
)
def test_keys_map_to_versions(prefix: str, key: str, expected: tuple[int, str] | None) -> None:
    assert split_version_key(prefix, key) == expected


@pytest.mark.parametrize(
    ("existing", "expected"),
    [([], 1), ([1], 2), ([1, 2, 5], 6), ([3, 1], 4), ([0], 1)],
)
def test_next_version_is_one_above_the_highest(existing: list[int], expected: int) -> None:
    assert next_version(existing) == expected
