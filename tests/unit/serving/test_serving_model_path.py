"""Which folder --model-base-path serves, and as which version."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelship.artifacts.manifest import Manifest, ManifestFile
from modelship.serving.model_path import ModelPathError, ModelVersionPath, find_model_version


def saved_model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    return folder


def test_a_base_folder_serves_its_newest_complete_version(tmp_path: Path) -> None:
    for name in ("1", "2", "10"):
        saved_model(tmp_path / name)
    (tmp_path / "11").mkdir()  # being written: no saved_model.pb yet
    saved_model(tmp_path / "abc")
    saved_model(tmp_path / "012")  # not a canonical version number
    assert find_model_version(tmp_path) == ModelVersionPath(10, tmp_path / "10")


def test_an_empty_base_folder_has_no_version_yet(tmp_path: Path) -> None:
    assert find_model_version(tmp_path) is None


def test_a_version_folder_is_numbered_by_its_manifest_then_its_name(tmp_path: Path) -> None:
    assert find_model_version(saved_model(tmp_path / "7")) == ModelVersionPath(7, tmp_path / "7")
    assert find_model_version(saved_model(tmp_path / "model")).version == 1  # type: ignore[union-attr]
    pulled = saved_model(tmp_path / "dest")
    manifest = Manifest(
        version=4,
        files=(ManifestFile(path="saved_model.pb", size=0, sha256="0" * 64),),
        framework="tensorflow",
        framework_version="2.21.0",
        signatures=(),
        created="2025-05-01T12:00:00Z",
    )
    (pulled / "modelship.json").write_bytes(manifest.to_json())
    assert find_model_version(pulled) == ModelVersionPath(4, pulled)


def test_a_missing_path_or_a_bad_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelPathError, match="does not exist") as caught:
        find_model_version(tmp_path / "absent")
    assert caught.value.reason == "ModelPathNotFound"
    folder = saved_model(tmp_path / "3")
    (folder / "modelship.json").write_text("{")
    with pytest.raises(ModelPathError) as caught:
        find_model_version(folder)
    assert caught.value.reason == "ManifestInvalid"


def manifest_for(version: int, framework: str, path: str) -> bytes:
    return Manifest(
        version=version,
        files=(ManifestFile(path=path, size=0, sha256="0" * 64),),
        framework=framework,
        framework_version="2.21.0",
        signatures=(),
        created="2025-05-01T12:00:00Z",
    ).to_json()


def test_the_manifests_framework_chooses_the_format(tmp_path: Path) -> None:
    pulled = tmp_path / "2"
    pulled.mkdir()
    (pulled / "model.tflite").write_bytes(b"")
    (pulled / "modelship.json").write_bytes(manifest_for(2, "tflite", "model.tflite"))
    assert find_model_version(tmp_path) == ModelVersionPath(2, pulled, "tflite")
    # Without a manifest, what the folder holds decides.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.tflite").write_bytes(b"")
    assert find_model_version(bare) == ModelVersionPath(1, bare, "tflite")
    assert find_model_version(saved_model(tmp_path / "sm")).framework == "tensorflow"  # type: ignore[union-attr]


def test_a_framework_the_server_cannot_serve_is_refused_by_name(tmp_path: Path) -> None:
    folder = saved_model(tmp_path / "5")
    (folder / "modelship.json").write_bytes(manifest_for(5, "onnx", "saved_model.pb"))
    with pytest.raises(ModelPathError, match="'onnx' model") as caught:
        find_model_version(tmp_path)
    assert caught.value.reason == "UnsupportedFramework"
