"""One training run inside a training Job's pod: choose the distribution strategy, call the
user's entrypoint, export what it returned as a SavedModel, and (on the chief only) publish
it as the requested version with its metrics through the artifact store.

Every failure is a TrainingError with a reason word; `modelship train` turns it into the
exit code and the termination message the operator reads.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from modelship.api.reasons import (
    ACCESS_DENIED,
    BUCKET_NOT_FOUND,
    INVALID_STORAGE_URI,
    UNSAFE_KEY,
    VERSION_NOT_FOUND,
)
from modelship.api.trainer import ENV_GIT_COMMIT, ENV_POD_NAME, ENV_TRAINING_JOB
from modelship.artifacts import (
    ArtifactError,
    ArtifactStore,
    S3Settings,
    StorageUri,
    VersionInfo,
    make_s3_client,
    parse_storage_uri,
)
from modelship.artifacts.baseline import Baseline
from modelship.artifacts.savedmodel import sample_baseline
from modelship.training.context import TaskInfo, TrainingContext, task_from_tf_config
from modelship.training.entrypoint import load_entrypoint, read_result
from modelship.training.errors import (
    INVALID_MODEL,
    INVALID_TF_CONFIG,
    PUBLISH_FAILED,
    TRAINING_FAILED,
    VERSION_EXISTS,
    TrainingError,
)

# Artifact reasons that mean the same on every retry.
_PERMANENT_STORE_REASONS: Final = frozenset(
    {INVALID_STORAGE_URI, BUCKET_NOT_FOUND, ACCESS_DENIED, UNSAFE_KEY}
)


def _quiet(line: str) -> None:
    """The default log: say nothing."""


@dataclass(frozen=True)
class TrainingRequest:
    """What `modelship train` was asked to do."""

    entrypoint: str
    output: str
    version: int
    data: str | None = None
    args: tuple[str, ...] = ()
    scratch_dir: Path | None = None
    """Where the run may write; None: a fresh temporary folder, removed at the end."""
    s3: S3Settings = field(default_factory=S3Settings)
    captures: str | None = None
    """Where this model's captured requests are (spec.monitoring.capture), if anywhere."""


@dataclass(frozen=True)
class TrainingResult:
    """A finished run."""

    version: int
    metrics: dict[str, float]
    task: TaskInfo
    published: VersionInfo | None
    """The version as published (the chief only; None on the other workers)."""
    already_published: bool = False
    """True when an earlier attempt of this same Job had published the version already."""


def run_training(
    request: TrainingRequest,
    *,
    environ: Mapping[str, str] | None = None,
    log: Callable[[str], None] = _quiet,
) -> TrainingResult:
    """Run the entrypoint and publish its model as `request.version` (see docs/training.md)."""
    environ = os.environ if environ is None else environ
    uri = _storage_uri(request.output)
    task = task_from_tf_config(environ.get("TF_CONFIG"))
    if task.type not in ("chief", "worker"):
        raise TrainingError(
            INVALID_TF_CONFIG,
            f"this is TF_CONFIG task {task.type} {task.index}; modelship trains with "
            "MultiWorkerMirroredStrategy, which runs only chief and worker tasks.",
            permanent=True,
        )
    role = "the chief" if task.is_chief else "not the chief"
    log(f"worker {task.index} of {task.num_workers} ({role}); version {request.version}")
    created_by = _created_by(request, environ)

    store = None
    if task.is_chief:
        store = ArtifactStore(make_s3_client(request.s3), uri)
        earlier = _earlier_attempt(store, request.version, uri, created_by)
        if earlier is not None:
            log(f"version {request.version} was published by an earlier attempt of this Job")
            return TrainingResult(request.version, earlier.metrics, task, earlier, True)

    strategy = _strategy(task, log)
    function = load_entrypoint(request.entrypoint)
    owned_scratch = request.scratch_dir is None
    scratch = _scratch(request.scratch_dir)
    try:
        context = TrainingContext(
            strategy=strategy,
            version=request.version,
            output=request.output,
            data=request.data,
            scratch_dir=scratch,
            task=task,
            args=tuple(request.args),
            captures=request.captures,
            s3=request.s3,
        )
        log(f"calling {request.entrypoint}")
        try:
            returned = function(context)
        except Exception as err:
            log(traceback.format_exc().rstrip())
            raise TrainingError(
                TRAINING_FAILED,
                f"{request.entrypoint} raised {type(err).__name__}: {_one_line(err)}",
            ) from err
        result = read_result(returned, request.entrypoint)
        model_dir = _saved_model(result.model, scratch, request.version)
        metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(result.metrics.items()))
        log(f"trained; metrics: {metrics or 'none'}; SavedModel at {model_dir}")
        if store is None:
            log("not the chief: nothing to publish")
            return TrainingResult(request.version, result.metrics, task, None)
        baseline = _baseline(model_dir, context, log)
        log(f"publishing version {request.version} to {uri}")
        published = _publish(
            store, model_dir, request.version, result.metrics, created_by, baseline
        )
        return TrainingResult(request.version, result.metrics, task, published)
    finally:
        if owned_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _storage_uri(output: str) -> StorageUri:
    try:
        return parse_storage_uri(output)
    except ArtifactError as err:
        raise TrainingError(err.reason, err.message, permanent=True) from None


def _created_by(request: TrainingRequest, environ: Mapping[str, str]) -> dict[str, str]:
    """What the manifest records about who made the version."""
    found = {
        "training_job": environ.get(ENV_TRAINING_JOB),
        "pod": environ.get(ENV_POD_NAME) or environ.get("HOSTNAME"),
        "git_commit": environ.get(ENV_GIT_COMMIT),
        "entrypoint": request.entrypoint,
    }
    return {key: value for key, value in found.items() if value}


def _earlier_attempt(
    store: ArtifactStore, version: int, uri: StorageUri, created_by: Mapping[str, str]
) -> VersionInfo | None:
    """Check the version is still free before spending time on training. A version already
    published by this very Job (an attempt that published and then died) counts as done;
    one published by anything else is VersionExists."""
    try:
        info = store.check_version(version)
    except ArtifactError as err:
        if err.reason == VERSION_NOT_FOUND:
            return None
        raise _publish_failed(err, f"checking that version {version} of {uri} is free") from None
    if info.state == "incomplete":
        return None  # files of an unfinished upload, no manifest: publishing completes it
    made_by = info.manifest.created_by if info.manifest is not None else {}
    job = created_by.get("training_job")
    if job and info.state == "complete" and made_by.get("training_job") == job:
        return info
    maker = made_by.get("training_job") or made_by.get("tool")
    raise TrainingError(
        VERSION_EXISTS,
        f"version {version} of {uri} already exists (made by {maker or 'someone else'}); "
        "versions are never overwritten: train with a new --version.",
        permanent=True,
    )


def _strategy(task: TaskInfo, log: Callable[[str], None]) -> Any:
    import tensorflow as tf  # only here: TensorFlow takes seconds to import

    if task.num_workers > 1:
        # Created before any other TensorFlow op, as collective ops require.
        log(f"MultiWorkerMirroredStrategy over {task.num_workers} workers")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        log(f"MirroredStrategy over {len(gpus)} GPUs")
        return tf.distribute.MirroredStrategy()
    log(f"default strategy on {'1 GPU' if gpus else 'CPU'}")
    return tf.distribute.get_strategy()


def _scratch(requested: Path | None) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="modelship-train-"))
    requested.mkdir(parents=True, exist_ok=True)
    return requested


def _saved_model(model: Any, scratch: Path, version: int) -> Path:
    """The SavedModel folder: the returned path as it is, or a Keras model exported."""
    if isinstance(model, Path):
        return model
    target = Path(tempfile.mkdtemp(dir=scratch, prefix=f"export-{version}-")) / "model"
    try:
        # Keras 3's export writes a SavedModel with a serving_default signature, the one
        # TF Serving and `modelship serve` call.
        if "verbose" in inspect.signature(model.export).parameters:
            model.export(str(target), verbose=False)
        else:
            model.export(str(target))
    except Exception as err:
        raise TrainingError(
            INVALID_MODEL,
            f"exporting the returned Keras model as a SavedModel failed: {_one_line(err)} "
            "(build the model, e.g. by fitting it or with keras.Input, before returning it).",
            permanent=True,
        ) from err
    return target


def _baseline(
    model_dir: Path, context: TrainingContext, log: Callable[[str], None]
) -> Baseline | None:
    """The drift baseline of the sample the entrypoint recorded (None when it recorded none)."""
    if not context.baseline_samples:
        return None
    try:
        baseline = sample_baseline(model_dir, context.baseline_samples[-1])
    except ArtifactError as err:
        raise TrainingError(err.reason, err.message, permanent=True) from None
    log(f"baseline: {len(baseline.features)} features of {baseline.samples} sample rows")
    return baseline


def _publish(
    store: ArtifactStore,
    model_dir: Path,
    version: int,
    metrics: Mapping[str, float],
    created_by: Mapping[str, str],
    baseline: Baseline | None = None,
) -> VersionInfo:
    try:
        return store.push(
            model_dir,
            version=version,
            metrics=metrics,
            created_by=created_by,
            baseline=baseline,
        )
    except ArtifactError as err:
        if err.reason in (VERSION_EXISTS, INVALID_MODEL):
            raise TrainingError(err.reason, err.message, permanent=True) from None
        raise _publish_failed(err, f"publishing version {version} to {store.uri}") from None


def _publish_failed(err: ArtifactError, doing: str) -> TrainingError:
    return TrainingError(
        PUBLISH_FAILED,
        f"{doing} failed: {err.reason}: {err.message}",
        permanent=err.reason in _PERMANENT_STORE_REASONS,
    )


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
