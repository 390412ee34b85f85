"""One optimization run (`modelship optimize`, the optimization Job's command): pull a
published version (every byte verified), quantize it to TensorFlow Lite, evaluate the source
and the result on the same evaluation data, and publish the result as a new version whose
manifest names its source (`derived_from`), the method and both sets of metrics.

Failures are TrainingErrors with a reason word, like the trainer's, so the Job's exit codes
and termination messages mean the same.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

from modelship.api.reasons import (
    ACCESS_DENIED,
    BUCKET_NOT_FOUND,
    CHECKSUM_MISMATCH,
    INVALID_STORAGE_URI,
    MANIFEST_INVALID,
    MANIFEST_MISSING,
    OBJECT_NOT_FOUND,
    OBJECT_TOO_LARGE,
    SIZE_MISMATCH,
    UNSAFE_KEY,
    VERSION_NOT_FOUND,
)
from modelship.artifacts import (
    ArtifactError,
    ArtifactStore,
    DerivedFrom,
    ModelInfo,
    S3Settings,
    VersionInfo,
    make_s3_client,
    parse_storage_uri,
)
from modelship.artifacts.objects import read_object
from modelship.training import quantization
from modelship.training.errors import (
    INVALID_EVALUATION_DATA,
    INVALID_MODEL,
    PUBLISH_FAILED,
    VERSION_EXISTS,
    TrainingError,
)
from modelship.training.quantization import (
    FRAMEWORK_TFLITE,
    SERVING_SIGNATURE,
    EvaluationData,
    Quantization,
)

_T = TypeVar("_T")
_MAX_EVAL_BYTES: Final = 1024 * 1024 * 1024
# Store answers that a retry of the Job would meet again.
_PERMANENT_STORE_REASONS: Final = frozenset(
    {
        INVALID_STORAGE_URI,
        BUCKET_NOT_FOUND,
        ACCESS_DENIED,
        UNSAFE_KEY,
        OBJECT_NOT_FOUND,
        OBJECT_TOO_LARGE,
        VERSION_NOT_FOUND,
        MANIFEST_MISSING,
        MANIFEST_INVALID,
        CHECKSUM_MISMATCH,
        SIZE_MISMATCH,
    }
)


def _quiet(line: str) -> None:
    """The default log: say nothing."""


@dataclass(frozen=True)
class OptimizationRequest:
    """What `modelship optimize` was asked to do."""

    storage_uri: str
    source_version: int
    method: Quantization
    evaluation_data: str
    """An `.npz` file: s3://bucket/key, or a local path."""
    version: int | None = None
    """The version to publish; None: the next free number."""
    created_by: Mapping[str, str] = field(default_factory=dict)
    scratch_dir: Path | None = None
    s3: S3Settings = field(default_factory=S3Settings)


@dataclass(frozen=True)
class OptimizationResult:
    """A finished run: the version published and what the conversion cost."""

    published: VersionInfo
    source_metrics: dict[str, float]
    metrics: dict[str, float]
    source_size: int
    already_published: bool = False


def run_optimization(
    request: OptimizationRequest, *, log: Callable[[str], None] = _quiet
) -> OptimizationResult:
    """Quantize `request.source_version` and publish it (see the module docstring)."""
    try:
        uri = parse_storage_uri(request.storage_uri)
    except ArtifactError as err:
        raise TrainingError(err.reason, err.message, permanent=True) from None
    client = make_s3_client(request.s3)
    store = ArtifactStore(client, uri)
    earlier = _earlier_attempt(store, request)
    if earlier is not None:
        log(f"version {earlier.number} was published by an earlier attempt")
        origin = earlier.manifest.derived_from if earlier.manifest else None
        return OptimizationResult(
            earlier,
            dict(origin.source_metrics) if origin else {},
            dict(earlier.metrics),
            0,
            already_published=True,
        )
    owned = request.scratch_dir is None
    scratch = Path(tempfile.mkdtemp(prefix="modelship-optimize-")) if owned else request.scratch_dir
    assert scratch is not None
    try:
        log(f"pulling version {request.source_version} of {uri}")
        source = _store_call(
            lambda: store.pull(request.source_version, scratch / "source"),
            f"pulling version {request.source_version} of {uri}",
        )
        manifest = source.manifest
        assert manifest is not None
        if manifest.framework != "tensorflow":
            raise TrainingError(
                INVALID_MODEL,
                f"version {source.number} is a {manifest.framework} model; only TensorFlow "
                "SavedModels can be quantized (an optimized version is never optimized again).",
                permanent=True,
            )
        signature = next((s for s in manifest.signatures if s.name == SERVING_SIGNATURE), None)
        if signature is None:
            raise TrainingError(
                INVALID_MODEL,
                f"version {source.number} has no {SERVING_SIGNATURE!r} signature to convert.",
                permanent=True,
            )
        data = _evaluation_data(client, request.evaluation_data)
        dtypes = {t.name: t.dtype for t in signature.inputs}
        quantization.check_inputs(data, dtypes, request.evaluation_data)
        log(f"converting with {request.method} quantization")
        derived_dir = scratch / "derived"
        quantization.convert(scratch / "source", request.method, derived_dir, data)
        log(f"evaluating on {data.rows} rows")
        source_metrics = quantization.evaluate(
            quantization.saved_model_predictor(scratch / "source"), data, dtypes
        )
        metrics = quantization.evaluate(
            quantization.tflite_predictor(derived_dir / quantization.TFLITE_FILE), data, dtypes
        )
        log(f"source {_text(source_metrics)}; {request.method} {_text(metrics)}")
        import tensorflow as tf

        published = _store_call(
            lambda: store.push(
                derived_dir,
                version=request.version,
                metrics=metrics,
                created_by={**request.created_by, "source_version": str(source.number)},
                model=ModelInfo(FRAMEWORK_TFLITE, str(tf.__version__), (signature,)),
                derived_from=DerivedFrom(
                    version=source.number,
                    method=request.method,
                    digest=source.digest,
                    source_metrics=source_metrics,
                ),
            ),
            f"publishing the optimized version to {uri}",
        )
        return OptimizationResult(published, source_metrics, metrics, source.size)
    finally:
        if owned:
            shutil.rmtree(scratch, ignore_errors=True)


def _earlier_attempt(store: ArtifactStore, request: OptimizationRequest) -> VersionInfo | None:
    """A requested version that already holds this very conversion (an attempt that
    published, then died) counts as done; anything else there is VersionExists."""
    if request.version is None:
        return None
    try:
        info = store.check_version(request.version)
    except ArtifactError as err:
        if err.reason == VERSION_NOT_FOUND:
            return None
        raise _publish_failed(err, f"checking that version {request.version} is free") from None
    if info.state == "incomplete":
        return None
    origin = info.manifest.derived_from if info.manifest is not None else None
    if (
        info.state == "complete"
        and origin is not None
        and origin.version == request.source_version
        and origin.method == request.method
    ):
        return info
    raise TrainingError(
        VERSION_EXISTS,
        f"version {request.version} of {store.uri} already exists; versions are never "
        "overwritten: optimize into a new --version.",
        permanent=True,
    )


def _evaluation_data(client: object, where: str) -> EvaluationData:
    if where.startswith("s3://"):
        data = _store_call(
            lambda: read_object(client, where, _MAX_EVAL_BYTES),  # type: ignore[arg-type]
            f"reading the evaluation data {where}",
        )
    else:
        try:
            data = Path(where).read_bytes()
        except OSError as err:
            raise TrainingError(
                INVALID_EVALUATION_DATA,
                f"the evaluation data {where} cannot be read: {err.strerror or err}.",
                permanent=True,
            ) from None
    return quantization.read_evaluation_data(data, where)


def _store_call(call: Callable[[], _T], doing: str) -> _T:
    try:
        return call()
    except ArtifactError as err:
        if err.reason == VERSION_EXISTS:
            raise TrainingError(err.reason, err.message, permanent=True) from None
        raise _publish_failed(err, doing) from None


def _publish_failed(err: ArtifactError, doing: str) -> TrainingError:
    return TrainingError(
        PUBLISH_FAILED if doing.startswith("publishing") else err.reason,
        f"{doing} failed: {err.reason}: {err.message}",
        permanent=err.reason in _PERMANENT_STORE_REASONS,
    )


def _text(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(metrics.items())) or "no metrics"
