"""The version layout inside a storage URI: which key belongs to which version, which
relative paths are safe to write on disk, and which number the next version gets."""

from __future__ import annotations

import re
from collections.abc import Iterable

from modelship.artifacts.errors import UNSAFE_KEY, ArtifactError

# TF Serving reads version folders as integers; only the canonical spelling counts here,
# so "01/" and "1/" can never both claim to be version 1.
_VERSION = re.compile(r"^(0|[1-9][0-9]{0,17})$")
_MAX_PATH_LENGTH = 1024  # S3's own key limit


def parse_version_folder(name: str) -> int | None:
    """The version number a folder name stands for, or None when it is not a version."""
    return int(name) if _VERSION.match(name) else None


def split_version_key(model_prefix: str, key: str) -> tuple[int, str] | None:
    """Split `prefix/3/variables/x` into (3, "variables/x"); None for keys outside versions.

    The relative part is returned as stored; callers that write it to disk must pass it
    through `safe_relative_path` first.
    """
    if not key.startswith(model_prefix):
        return None
    folder, sep, rest = key[len(model_prefix) :].partition("/")
    version = parse_version_folder(folder)
    if version is None or not sep or not rest:
        return None
    return version, rest


def safe_relative_path(path: str) -> str:
    """Return `path` when it stays inside its folder once written to disk; else UnsafeKey.

    Refused: absolute paths, drive letters, `.` and `..` segments, empty segments,
    backslashes (a separator on Windows) and NUL bytes.
    """
    problem = _path_problem(path)
    if problem:
        raise ArtifactError(
            UNSAFE_KEY,
            f"refusing the file {path!r}: {problem}; a model's files must stay inside its "
            "version folder.",
        )
    return path


def _path_problem(path: str) -> str | None:
    if not path:
        return "the path is empty"
    if len(path) > _MAX_PATH_LENGTH:
        return "the path is longer than 1024 characters"
    if "\x00" in path:
        return "the path contains a NUL byte"
    if "\\" in path:
        return "the path contains a backslash"
    if path.startswith("/"):
        return "the path is absolute"
    if re.match(r"^[A-Za-z]:", path):
        return "the path starts with a drive letter"
    segments = path.split("/")
    if any(segment == ".." for segment in segments):
        return "the path has a '..' segment"
    if any(segment in ("", ".") for segment in segments):
        return "the path has an empty or '.' segment"
    return None


def next_version(existing: Iterable[int]) -> int:
    """The number a new version gets: one more than the highest folder present, complete
    or not, so an unfinished upload is never silently reused."""
    return max(existing, default=0) + 1
