"""Which SavedModel folder `--model-base-path` means, and which version number it serves.

Two layouts are accepted: a version folder itself (it holds saved_model.pb), or TF Serving's
base folder of integer version folders, of which the newest complete one is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelship.api.reasons import MODEL_PATH_NOT_FOUND
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.layout import parse_version_folder
from modelship.artifacts.manifest import MANIFEST_NAME, Manifest

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


class ModelPathError(Exception):
    """--model-base-path cannot be served; `reason` is a CamelCase word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ModelVersionPath:
    """One SavedModel folder and the version number it is served as."""

    version: int
    path: Path


def is_saved_model(folder: Path) -> bool:
    return any((folder / name).is_file() for name in SAVED_MODEL_FILES)


def find_model_version(base: Path) -> ModelVersionPath | None:
    """The version to serve under `base`; None while the base folder holds no version yet
    (TF Serving waits for one too). ModelPathError when `base` is not a folder."""
    if not base.exists():
        raise ModelPathError(MODEL_PATH_NOT_FOUND, f"the model path {base} does not exist.")
    if not base.is_dir():
        raise ModelPathError(MODEL_PATH_NOT_FOUND, f"the model path {base} is not a folder.")
    if is_saved_model(base):
        return ModelVersionPath(version=version_of_folder(base), path=base)
    versions = []
    for child in base.iterdir():
        number = parse_version_folder(child.name)
        if number is not None and child.is_dir() and is_saved_model(child):
            versions.append(ModelVersionPath(version=number, path=child))
    return max(versions, key=lambda v: v.version, default=None)


def version_of_folder(folder: Path) -> int:
    """A lone version folder's number: from its manifest when it has one, else from its
    name when that is an integer, else 1."""
    manifest = folder / MANIFEST_NAME
    if manifest.is_file():
        try:
            return Manifest.from_json(manifest.read_bytes()).version
        except ArtifactError as err:
            raise ModelPathError(err.reason, err.message) from None
    number = parse_version_folder(folder.name)
    return 1 if number is None else number
