"""The manifest modelship.json: round trip, digest, and the problems it must refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelship.artifacts import (
    ArtifactError,
    Manifest,
    ManifestFile,
    Signature,
    TensorSpec,
    manifest_digest,
)

SHA = "ab" * 32


def a_manifest(**changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "version": 3,
        "files": (
            ManifestFile("saved_model.pb", 1200, SHA, "etag-1"),
            ManifestFile("variables/variables.data-00000-of-00001", 64, "cd" * 32, "etag-2-3"),
        ),
        "framework": "tensorflow",
        "framework_version": "2.21.0",
        "signatures": (
            Signature(
                "serving_default",
                inputs=(TensorSpec("x", "float32", (None, 4)),),
                outputs=(TensorSpec("y", "float32", (None, 1)), TensorSpec("s", "string", None)),
            ),
        ),
        "created": "2025-05-01T12:00:00Z",
        "created_by": {"tool": "modelship", "git_commit": "abc123"},
        "metrics": {"accuracy": 0.97, "loss": 0.1},
    }
    fields.update(changes)
    return Manifest(**fields)


def document(**changes: Any) -> bytes:
    body = json.loads(a_manifest().to_json())
    body.update(changes)
    return json.dumps(body).encode()


def test_round_trip_keeps_everything() -> None:
    manifest = a_manifest()
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_the_json_is_stable_so_the_digest_is() -> None:
    assert a_manifest().to_json() == a_manifest().to_json()
    digest = manifest_digest(a_manifest().to_json())
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert manifest_digest(a_manifest(metrics={"accuracy": 0.5}).to_json()) != digest


def test_size_is_the_sum_of_the_files() -> None:
    assert a_manifest().size == 1264


def test_unknown_dimensions_and_rank_survive() -> None:
    parsed = Manifest.from_json(a_manifest().to_json())
    outputs = parsed.signatures[0].outputs
    assert outputs[0].shape == (None, 1)
    assert outputs[1].shape is None


def test_optional_fields_default() -> None:
    body = json.loads(a_manifest().to_json())
    for key in ("created_by", "metrics", "signatures", "schema"):
        del body[key]
    parsed = Manifest.from_json(json.dumps(body).encode())
    assert parsed.metrics == {} and parsed.signatures == () and parsed.created_by == {}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (document(schema="modelship.io/manifest/v9"), "not supported"),
        (document(version=-1), "'version'"),
        (document(version="3"), "'version'"),
        (document(version=True), "'version'"),
        (document(files=[]), "'files'"),
        (document(files=[{"path": "a", "size": 1}]), "files[0].sha256"),
        (document(files=[{"path": "a", "size": -1, "sha256": SHA}]), "files[0].size"),
        (document(files=[{"path": "a", "size": 1, "sha256": SHA.upper()}]), "sha256"),
        (document(files=[{"path": "a", "size": 1, "sha256": SHA, "etag": 5}]), "etag"),
        (
            document(files=[{"path": "a", "size": 1, "sha256": SHA}] * 2),
            "more than once",
        ),
        (
            document(files=[{"path": "modelship.json", "size": 1, "sha256": SHA}]),
            "modelship.json itself",
        ),
        (document(framework=""), "'framework'"),
        (document(created="yesterday"), "'created'"),
        (document(created="2025-05-01T12:00:00"), "no time zone"),
        (document(metrics={"accuracy": "high"}), "metric 'accuracy'"),
        (document(metrics={"accuracy": True}), "metric 'accuracy'"),
        (b'{"metrics": {"loss": NaN}}', "'version'"),
        (document(metrics={"loss": float("inf")}), "finite"),
        (document(created_by={"tool": 1}), "'created_by'"),
        (document(signatures={"s": {"inputs": {"x": {"shape": [1]}}}}), "dtype"),
        (
            document(signatures={"s": {"inputs": {"x": {"dtype": "f", "shape": "1"}}}}),
            "shape",
        ),
    ],
)
def test_invalid_manifests_name_the_problem(data: bytes, words: str) -> None:
    with pytest.raises(ArtifactError) as caught:
        Manifest.from_json(data)
    assert caught.value.reason == "ManifestInvalid"
    assert words in caught.value.message


def test_a_path_that_escapes_is_unsafe_not_just_invalid() -> None:
    data = document(files=[{"path": "../../x", "size": 1, "sha256": SHA}])
    with pytest.raises(ArtifactError) as caught:
        Manifest.from_json(data)
    assert caught.value.reason == "UnsafeKey"


def test_an_optimized_version_names_its_source_method_and_source_metrics() -> None:
    from modelship.artifacts import DerivedFrom

    origin = DerivedFrom(2, "Int8", "sha256:" + SHA, {"accuracy": 0.97})
    manifest = a_manifest(framework="tflite", derived_from=origin)
    parsed = Manifest.from_json(manifest.to_json())
    assert parsed.derived_from == origin
    assert parsed.framework == "tflite"
    assert json.loads(manifest.to_json())["derived_from"] == {
        "version": 2,
        "method": "Int8",
        "digest": "sha256:" + SHA,
        "source_metrics": {"accuracy": 0.97},
    }
    # A version that was not optimized has no such key, so its bytes (its digest) are as before.
    assert "derived_from" not in json.loads(a_manifest().to_json())


@pytest.mark.parametrize(
    ("derived_from", "words"),
    [
        ("Int8", "'derived_from' must be an object"),
        ({"method": "Int8"}, "'derived_from.version' must be a non-negative integer"),
        ({"version": 2, "method": ""}, "'derived_from.method' must be a non-empty string"),
        ({"version": 2, "method": "Int8", "digest": "md5:x"}, "'derived_from.digest'"),
        ({"version": 2, "method": "Int8", "source_metrics": {"a": "x"}}, "metric 'a'"),
    ],
)
def test_a_bad_derived_from_is_invalid(derived_from: Any, words: str) -> None:
    with pytest.raises(ArtifactError) as caught:
        Manifest.from_json(document(derived_from=derived_from))
    assert caught.value.reason == "ManifestInvalid"
    assert words in caught.value.message
