"""Which model folder `--model-base-path` means, which version number it serves, and in
which format (`framework`): a TensorFlow SavedModel, or a TensorFlow Lite file made by
`modelship optimize`.

Two layouts are accepted: a version folder itself (it holds saved_model.pb or model.tflite),
or TF Serving's base folder of integer version folders, of which the newest complete one is
served. The format is the manifest's `framework` field when the folder has a manifest (as a
pulled version does), else what the folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelship.api.reasons import MODEL_PATH_NOT_FOUND, UNSUPPORTED_FRAMEWORK
from modelship.artifacts.errors import ArtifactError
from modelship.artifacts.layout import parse_version_folder
from modelship.artifacts.manifest import MANIFEST_NAME, Manifest

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
TFLITE_FILE = "model.tflite"
FRAMEWORK_TENSORFLOW = "tensorflow"
FRAMEWORK_TFLITE = "tflite"
FRAMEWORKS = (FRAMEWORK_TENSORFLOW, FRAMEWORK_TFLITE)


class ModelPathError(Exception):
    """--model-base-path cannot be served; `reason` is a CamelCase word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ModelVersionPath:
    """One model folder, the version number it is served as, and its format."""

    version: int
    path: Path
    framework: str = FRAMEWORK_TENSORFLOW


def is_saved_model(folder: Path) -> bool:
    return any((folder / name).is_file() for name in SAVED_MODEL_FILES)


def is_model_folder(folder: Path) -> bool:
    return is_saved_model(folder) or (folder / TFLITE_FILE).is_file()


def find_model_version(base: Path) -> ModelVersionPath | None:
    """The version to serve under `base`; None while the base folder holds no version yet
    (TF Serving waits for one too). ModelPathError when `base` is not a folder."""
    if not base.exists():
        raise ModelPathError(MODEL_PATH_NOT_FOUND, f"the model path {base} does not exist.")
    if not base.is_dir():
        raise ModelPathError(MODEL_PATH_NOT_FOUND, f"the model path {base} is not a folder.")
    if is_model_folder(base):
        return ModelVersionPath(version_of_folder(base), base, framework_of_folder(base))
    versions = []
    for child in base.iterdir():
        number = parse_version_folder(child.name)
        if number is not None and child.is_dir() and is_model_folder(child):
            versions.append(ModelVersionPath(number, child, framework_of_folder(child)))
    return max(versions, key=lambda v: v.version, default=None)


def framework_of_folder(folder: Path) -> str:
    """The manifest's framework when the folder has a manifest; else tflite for a folder
    with model.tflite and no SavedModel, tensorflow otherwise. ModelPathError for a
    framework this server cannot serve."""
    manifest = _manifest(folder)
    if manifest is not None:
        framework = manifest.framework
    elif (folder / TFLITE_FILE).is_file() and not is_saved_model(folder):
        framework = FRAMEWORK_TFLITE
    else:
        framework = FRAMEWORK_TENSORFLOW
    if framework not in FRAMEWORKS:
        raise ModelPathError(
            UNSUPPORTED_FRAMEWORK,
            f"{folder} holds a {framework!r} model (its manifest says so); this server "
            f"serves {' and '.join(FRAMEWORKS)} models.",
        )
    return framework


def _manifest(folder: Path) -> Manifest | None:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return Manifest.from_json(path.read_bytes())
    except ArtifactError as err:
        raise ModelPathError(err.reason, err.message) from None


def version_of_folder(folder: Path) -> int:
    """A lone version folder's number: from its manifest when it has one, else from its
    name when that is an integer, else 1."""
    manifest = _manifest(folder)
    if manifest is not None:
        return manifest.version
    number = parse_version_folder(folder.name)
    return 1 if number is None else number
