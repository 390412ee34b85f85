"""The manifest `modelship.json`: what a published version holds, parsed and validated.

It is written last when a version is published, so its presence marks a version complete.
Its bytes are the version's identity: the digest is `sha256:<hex of those bytes>`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from modelship.artifacts.baseline import Baseline, BaselineError, parse_baseline
from modelship.artifacts.errors import MANIFEST_INVALID, ArtifactError
from modelship.artifacts.layout import safe_relative_path

MANIFEST_NAME = "modelship.json"
MANIFEST_SCHEMA = "modelship.io/manifest/v1"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ManifestFile:
    """One file of a version: its path relative to the version folder, and how to check it."""

    path: str
    size: int
    sha256: str  # lowercase hex
    etag: str | None = None  # as the store reported it at publish time, without quotes


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature."""

    name: str
    dtype: str  # TensorFlow's name: "float32", "int64", "string" ...
    shape: tuple[int | None, ...] | None  # None = unknown rank; a None dim = any size


@dataclass(frozen=True)
class Signature:
    """A callable entry point of the model, as TF Serving exposes it."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class DerivedFrom:
    """Where an optimized version came from: the version it was converted from, how, and
    that version's metrics measured in the same run on the same data (the fair baseline for
    judging what the conversion cost)."""

    version: int
    method: str  # e.g. "Int8", "Float16", "DynamicRange"
    digest: str | None = None  # the source's manifest digest, sha256:<hex>
    source_metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """Everything `modelship.json` records about one version."""

    version: int
    files: tuple[ManifestFile, ...]
    framework: str
    framework_version: str
    signatures: tuple[Signature, ...]
    created: str  # RFC 3339, UTC, e.g. "2025-05-01T12:00:00Z"
    created_by: dict[str, str] = field(default_factory=dict)  # tool, training job, git commit
    metrics: dict[str, float] = field(default_factory=dict)
    baseline: Baseline | None = None  # the training inputs' distribution, for drift
    derived_from: DerivedFrom | None = None  # set on versions made by `modelship optimize`

    @property
    def size(self) -> int:
        """Total bytes of the version's files (the manifest itself excluded)."""
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        """The bytes written to the store; stable for equal manifests."""
        document = {
            "schema": MANIFEST_SCHEMA,
            "version": self.version,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "created": self.created,
            "created_by": dict(self.created_by),
            "metrics": dict(self.metrics),
            "signatures": {s.name: _signature_json(s) for s in self.signatures},
            "files": [
                {"path": f.path, "size": f.size, "sha256": f.sha256, "etag": f.etag}
                for f in self.files
            ],
        }
        if self.baseline is not None:
            # Only when there is one: a manifest without it keeps its bytes (and digest).
            document["baseline"] = self.baseline.to_dict()
        if self.derived_from is not None:
            origin = self.derived_from
            document["derived_from"] = {
                "version": origin.version,
                "method": origin.method,
                "digest": origin.digest,
                "source_metrics": dict(origin.source_metrics),
            }
        return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and validate; ManifestInvalid names the first problem (UnsafeKey for a path
        that would escape the version folder)."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, ValueError) as err:
            raise _invalid(f"it is not valid JSON ({err})") from None
        return _parse_manifest(document)


def manifest_digest(data: bytes) -> str:
    """A version's digest: the sha256 of its manifest's bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(moment: datetime) -> str:
    """UTC, second precision, with a Z: the form `created` uses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _signature_json(signature: Signature) -> dict[str, Any]:
    def tensors(specs: tuple[TensorSpec, ...]) -> dict[str, Any]:
        return {
            t.name: {"dtype": t.dtype, "shape": None if t.shape is None else list(t.shape)}
            for t in specs
        }

    return {"inputs": tensors(signature.inputs), "outputs": tensors(signature.outputs)}


def _invalid(problem: str) -> ArtifactError:
    return ArtifactError(MANIFEST_INVALID, f"the manifest {MANIFEST_NAME} is invalid: {problem}.")


def _parse_manifest(document: Any) -> Manifest:
    if not isinstance(document, dict):
        raise _invalid("it is not a JSON object")
    schema = document.get("schema", MANIFEST_SCHEMA)
    if schema != MANIFEST_SCHEMA:
        raise _invalid(f"schema {schema!r} is not supported (expected {MANIFEST_SCHEMA!r})")
    version = document.get("version")
    if not _is_int(version) or version < 0:
        raise _invalid("'version' must be a non-negative integer")
    files = document.get("files")
    if not isinstance(files, list) or not files:
        raise _invalid("'files' must be a non-empty list")
    parsed_files = tuple(_parse_file(i, entry) for i, entry in enumerate(files))
    paths = [f.path for f in parsed_files]
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        raise _invalid(f"'files' lists {duplicates[0]!r} more than once")
    if MANIFEST_NAME in paths:
        raise _invalid(f"'files' must not list {MANIFEST_NAME} itself")
    signatures = document.get("signatures", {})
    if not isinstance(signatures, dict):
        raise _invalid("'signatures' must be an object of name -> {inputs, outputs}")
    return Manifest(
        version=version,
        files=parsed_files,
        framework=_string(document, "framework"),
        framework_version=_string(document, "framework_version"),
        signatures=tuple(_parse_signature(name, body) for name, body in signatures.items()),
        created=_parse_created(document.get("created")),
        created_by=_parse_created_by(document.get("created_by", {})),
        metrics=_parse_metrics(document.get("metrics", {})),
        baseline=_parse_baseline(document.get("baseline")),
        derived_from=_parse_derived_from(document.get("derived_from")),
    )


def _parse_baseline(value: Any) -> Baseline | None:
    if value is None:
        return None
    try:
        return parse_baseline(value)
    except BaselineError as err:
        raise _invalid(str(err)) from None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise _invalid(f"'{key}' must be a non-empty string")
    return value


def _parse_file(index: int, entry: Any) -> ManifestFile:
    where = f"files[{index}]"
    if not isinstance(entry, dict):
        raise _invalid(f"{where} must be an object with path, size and sha256")
    path = entry.get("path")
    if not isinstance(path, str):
        raise _invalid(f"{where}.path must be a string")
    safe_relative_path(path)  # raises UnsafeKey: the reason a script must see
    size = entry.get("size")
    if not _is_int(size) or size < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    sha256 = entry.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise _invalid(f"{where}.sha256 must be 64 lowercase hex characters")
    etag = entry.get("etag")
    if etag is not None and not isinstance(etag, str):
        raise _invalid(f"{where}.etag must be a string or null")
    return ManifestFile(path=path, size=size, sha256=sha256, etag=etag)


def _parse_signature(name: str, body: Any) -> Signature:
    if not isinstance(body, dict):
        raise _invalid(f"signature {name!r} must be an object with inputs and outputs")
    return Signature(
        name=name,
        inputs=_parse_tensors(name, "inputs", body.get("inputs", {})),
        outputs=_parse_tensors(name, "outputs", body.get("outputs", {})),
    )


def _parse_tensors(signature: str, kind: str, tensors: Any) -> tuple[TensorSpec, ...]:
    where = f"signature {signature!r} {kind}"
    if not isinstance(tensors, dict):
        raise _invalid(f"{where} must be an object of name -> {{dtype, shape}}")
    specs = []
    for name, spec in tensors.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("dtype"), str):
            raise _invalid(f"{where} {name!r} must have a string dtype")
        shape = spec.get("shape")
        if shape is not None and not (
            isinstance(shape, list) and all(d is None or _is_int(d) for d in shape)
        ):
            raise _invalid(f"{where} {name!r} shape must be a list of integers or nulls")
        specs.append(
            TensorSpec(
                name=name, dtype=spec["dtype"], shape=None if shape is None else tuple(shape)
            )
        )
    return tuple(specs)


def _parse_created(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("'created' must be an RFC 3339 time such as 2025-05-01T12:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"'created' {value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise _invalid(f"'created' {value!r} has no time zone")
    return value


def _parse_created_by(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _invalid("'created_by' must be an object of strings")
    return dict(value)


def _parse_metrics(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise _invalid("'metrics' must be an object of name -> number")
    metrics: dict[str, float] = {}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise _invalid(f"metric {name!r} must be a number")
        if not math.isfinite(number):
            raise _invalid(f"metric {name!r} must be finite")
        metrics[name] = float(number)
    return metrics


def _parse_derived_from(value: Any) -> DerivedFrom | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("'derived_from' must be an object with version and method")
    version = value.get("version")
    if not _is_int(version) or version < 0:
        raise _invalid("'derived_from.version' must be a non-negative integer")
    method = value.get("method")
    if not isinstance(method, str) or not method:
        raise _invalid("'derived_from.method' must be a non-empty string")
    digest = value.get("digest")
    if digest is not None and not (isinstance(digest, str) and digest.startswith("sha256:")):
        raise _invalid("'derived_from.digest' must be a sha256:<hex> digest or null")
    return DerivedFrom(
        version=version,
        method=method,
        digest=digest,
        source_metrics=_parse_metrics(value.get("source_metrics", {})),
    )
